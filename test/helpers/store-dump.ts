import type { SequenceStore } from '../../src/storage/sequence-store.js';

const STATUSES = ['open', 'void', 'refilled', 'confirmed'] as const;

/**
 * Everything a store answers through its public reads, without its opaque versions: two stores
 * holding the same data dump equal, whatever their backend. `keys`: idempotency keys to look up.
 */
export async function dumpStore(store: SequenceStore, keys: readonly string[] = []) {
  const series = await store.listSeries();
  const out: Record<string, unknown> = {
    identity: await store.loadIdentity(),
    // Maintenance is the store's state, not its data: a restore sets it (see restore.ts).
    settings: await store.loadSettings().then(({ maintenance: _maintenance, ...s }) => s),
    series,
  };
  for (const name of series) {
    const { version: _version, ...state } = await store.loadSeries(name, 1);
    const events = [];
    for (let after = 0; ; ) {
      const page = await store.readEvents(name, after, 1000);
      const last = page[page.length - 1];
      if (!last) break;
      events.push(...page);
      after = last.seq;
    }
    const numbers = [];
    for (let after = -1; ; ) {
      const page = await store.listNumbers({ series: name, statuses: [...STATUSES], limit: 500, afterNumber: after });
      const last = page[page.length - 1];
      if (!last) break;
      numbers.push(...page);
      after = last.number;
    }
    out[name] = { state, events, numbers, totals: await store.totals(name) };
  }
  const found = await store.lookupRequests(series[0] ?? 'none', keys, 0);
  out.requests = [...found.values()].sort((a, b) => a.key.localeCompare(b.key));
  return out;
}
