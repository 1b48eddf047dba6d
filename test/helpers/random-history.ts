import { planBatch } from '../../src/domain/planner.js';
import { GAP_POLICIES, type GapPolicy, type InvoiceType, type Op, type SeriesState } from '../../src/domain/types.js';
import type { SequenceStore } from '../../src/storage/sequence-store.js';

const HOLDERS = [
  { siteId: 'site-1', partitionId: 'partition-a' },
  { siteId: 'site-2', partitionId: 'partition-b' },
  { siteId: 'site-3', partitionId: 'partition-a' },
] as const;
const TYPES: readonly InvoiceType[] = ['on-cycle', 'off-cycle', 'suppressed'];

export interface RandomHistory {
  /** Every idempotency key used (for looking them up afterwards). */
  readonly keys: string[];
  readonly gapPolicy: GapPolicy;
  readonly batches: number;
}

/**
 * Commits a random history into `store` through the planner, as the service would: allocations
 * (some keyed, some retried with their key), releases and expiries by the holder, confirms, refills,
 * setting toggles and, rarely, a close. Deterministic for a given `rand`.
 */
export async function randomHistory(store: SequenceStore, rand: () => number, o: { series: readonly string[]; steps: number }): Promise<RandomHistory> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const gapPolicy = pick(GAP_POLICIES);
  const keys: string[] = [];
  const states = new Map<string, SeriesState>();
  let batches = 0;
  let simulated = true;
  for (let step = 0; step < o.steps; step++) {
    const series = pick(o.series);
    const state = states.get(series) ?? (await store.loadSeries(series, 1 + Math.floor(rand() * 3) * 100));
    const ops: Op[] = [];
    const wanted: number[] = [];
    for (let i = 1 + Math.floor(rand() * 4); i > 0; i--) {
      const r = rand();
      const holder = pick(HOLDERS);
      if (r < 0.5 || state.hwm < state.start) {
        const key = rand() < 0.4 ? (rand() < 0.3 && keys.length ? pick(keys) : `key-${keys.length + 1}`) : undefined;
        if (key && !keys.includes(key)) keys.push(key);
        ops.push({ kind: 'allocate', ...holder, invoiceType: pick(TYPES), count: 1 + Math.floor(rand() * 5), ...(key ? { requestId: key } : {}) });
      } else if (r < 0.97) {
        const n = state.start + Math.floor(rand() * (state.hwm - state.start + 1));
        wanted.push(n);
        ops.push({ kind: r < 0.75 ? 'release' : 'confirm', sequenceNumber: n, siteId: '', partitionId: '', reason: r < 0.65 ? 'cancelled' : 'expired' } as Op);
      } else if (r < 0.985) {
        simulated = !simulated;
        ops.push({ kind: 'setting', key: 'simulatedEnabled', value: simulated, reason: 'toggled' });
      } else {
        ops.push({ kind: 'close', reason: 'period over' });
      }
    }
    const records = await store.lookupNumbers(series, wanted.filter((n) => n <= state.hwm));
    // Releases and confirms come from the number's holder, as a billing site would send them.
    const withHolders = ops.map((op): Op => {
      if (op.kind !== 'release' && op.kind !== 'confirm') return op;
      const rec = records.get(op.sequenceNumber) ?? state.openGaps.find((g) => g.number === op.sequenceNumber);
      return { ...op, siteId: rec?.siteId ?? 'site-1', partitionId: rec?.partitionId ?? 'partition-a' };
    });
    const keyed = withHolders.flatMap((op) => (op.kind === 'allocate' && op.requestId ? [op.requestId] : []));
    const found = await store.lookupRequests(series, keyed, Date.now() - 24 * 3600_000);
    // A replayed key's numbers are looked up too (the planner checks they are still held).
    const replayed = [...found.values()].flatMap((r) => (r.series === series ? r.numbers : []));
    const all = replayed.length ? new Map([...records, ...(await store.lookupNumbers(series, replayed))]) : records;
    const plan = planBatch(state, withHolders, all, {
      batchId: `random-${step}-${Math.floor(rand() * 1e9)}`,
      node: 'random',
      now: Date.now(),
      gapPolicy,
      settings: { simulatedEnabled: true },
      requests: found,
      requestVersions: found.versions,
    });
    if (!plan.commit) continue;
    const r = await store.commit(plan.commit);
    if (r.status !== 'committed') throw new Error(`random history: a commit of ${series} was refused`);
    batches++;
    states.set(series, { ...plan.commit.next, version: r.version });
  }
  return { keys, gapPolicy, batches };
}
