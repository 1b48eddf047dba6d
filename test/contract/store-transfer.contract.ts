import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeBackupFile } from '../../src/backup/backup-file.js';
import { walkBackup } from '../../src/backup/backup-walk.js';
import { backupLines } from '../../src/backup/backup-writer.js';
import { restoreBackup } from '../../src/backup/restore.js';
import { MaintenanceError, StoreNotEmptyError, StoreUnavailableError } from '../../src/domain/errors/index.js';
import { planBatch } from '../../src/domain/planner.js';
import type { Op, SeriesState } from '../../src/domain/types.js';
import type { SequenceStore } from '../../src/storage/sequence-store.js';
import { dumpStore } from '../helpers/store-dump.js';
import type { StoreFactory } from './sequence-store.contract.js';

const A = { siteId: 'site-1', partitionId: 'partition-a' } as const;
const B = { siteId: 'site-2', partitionId: 'partition-b' } as const;
const KEYS = ['order-1', 'order-2/é', 'order-3'];
const DAY = 24 * 3600_000;
let batchNo = 0;
/** Every version each series was loaded or committed at, by series name. */
const seenVersions = new Map<string, Set<string>>();
const saw = (s: SeriesState): SeriesState => {
  seenVersions.set(s.series, (seenVersions.get(s.series) ?? new Set()).add(s.version));
  return s;
};

async function apply(store: SequenceStore, state: SeriesState, ops: Op[]): Promise<SeriesState> {
  const numbers = ops.flatMap((o) => ((o.kind === 'release' || o.kind === 'confirm') && o.sequenceNumber <= state.hwm ? [o.sequenceNumber] : []));
  const keys = ops.flatMap((o) => (o.kind === 'allocate' && o.requestId ? [o.requestId] : []));
  const plan = planBatch(state, ops, await store.lookupNumbers(state.series, numbers), {
    batchId: `transfer-${++batchNo}`,
    node: 'contract',
    now: Date.now(),
    gapPolicy: 'lowest-first',
    settings: { simulatedEnabled: true },
    requests: await store.lookupRequests(state.series, keys, Date.now() - DAY),
  });
  assert.ok(plan.commit, 'the ops should change something');
  const r = await store.commit(plan.commit);
  assert.equal(r.status, 'committed');
  return saw({ ...plan.commit.next, version: r.status === 'committed' ? r.version : '' });
}

const alloc = (count: number, holder: { siteId: string; partitionId: string } = A, requestId?: string): Op => ({
  kind: 'allocate',
  ...holder,
  invoiceType: 'on-cycle',
  count,
  ...(requestId ? { requestId } : {}),
});
const release = (n: number, holder: { siteId: string; partitionId: string } = A, reason = 'cancelled'): Op => ({ kind: 'release', sequenceNumber: n, ...holder, reason });

/** A history with every kind of event: keyed allocations, releases, refills, confirms, voids, a close, a setting. */
async function buildHistory(store: SequenceStore): Promise<void> {
  await store.saveIdentity({ storeId: 'transfer-test', createdAt: 1_700_000_000_000, adopted: false, numbering: { strategy: { splitBy: [], rollover: null }, formats: {} } }, null);
  let a = saw(await store.loadSeries('global', 1));
  a = await apply(store, a, [alloc(5, A, 'order-1'), alloc(3, B, 'order-2/é')]);
  a = await apply(store, a, [release(2), release(7, B, 'wrong customer')]);
  a = await apply(store, a, [alloc(1, B, 'order-3'), { kind: 'confirm', sequenceNumber: 3, ...A }]);
  // Past the first chunk of numbers (1000 a chunk in etcd), with gaps up there.
  a = await apply(store, a, [alloc(1500)]);
  await apply(store, a, [release(1200), release(1499), { kind: 'setting', key: 'simulatedEnabled', value: false, reason: 'quarter end' }]);
  let b = saw(await store.loadSeries('site-2@2026', 100));
  b = await apply(store, b, [alloc(4, B)]);
  b = await apply(store, b, [release(101, B)]);
  await apply(store, b, [{ kind: 'close', reason: 'period over' }]);
  // Archived and removed: only its state, totals and archive event are left to carry over.
  let c = saw(await store.loadSeries('site-1@2025', 1));
  c = await apply(store, c, [alloc(1200, A)]);
  c = await apply(store, c, [release(1100), { kind: 'close', reason: '2025 over' }]);
  await apply(store, c, [{ kind: 'archive', file: '/archives/site-1@2025.seqd-archive', sha256: 'c'.repeat(64), headSeq: c.eventSeq, headHash: c.lastHash, reason: 'retention' }]);
  while ((await store.purgeArchived('site-1@2025')) > 0);
}

/**
 * Backup and restore every backend must support: a snapshot that holds still while commits go
 * on, a backup that restores into the same kind of store with every read unchanged, refusal of a
 * store that holds data, and a store whose load did not finish refusing to open.
 */
export function storeTransferContract(name: string, factory: () => StoreFactory): void {
  describe(`store transfer contract: ${name}`, () => {
    let f: StoreFactory;
    let store: SequenceStore;
    let dir: string;

    before(async () => {
      f = factory();
      store = await f.open();
      dir = mkdtempSync(join(tmpdir(), 'seqd-transfer-'));
      await buildHistory(store);
    });
    after(async () => {
      await store.close();
      await f.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('backs up a snapshot that holds still while commits go on, and restores it with every read unchanged', async () => {
      const before = await dumpStore(store, KEYS);
      const snapshot = await store.openSnapshot();
      // Committed after the snapshot: not in the backup.
      await apply(store, await store.loadSeries('global', 1), [alloc(2, A, 'after-snapshot')]);
      const file = join(dir, 'one.seqd-backup');
      let summary;
      try {
        summary = await writeBackupFile(file, backupLines({ snapshot, kind: store.kind, requestWindowMs: DAY, now: Date.now }));
      } finally {
        await snapshot.close();
      }
      const seriesOf = (name: string) => before[name] as { state: SeriesState; events: unknown[]; numbers: unknown[] };
      const [g, s2, arch] = [seriesOf('global'), seriesOf('site-2@2026'), seriesOf('site-1@2025')];
      assert.deepEqual([arch.events.length, arch.numbers.length, arch.state.archived?.headSeq], [1, 0, arch.state.eventSeq - 1], 'the archived series holds its archive event only');
      assert.deepEqual(summary.counts, { series: 3, events: g.events.length + s2.events.length + 1, numbers: g.numbers.length + s2.numbers.length, requests: 3 });
      assert.deepEqual(
        summary.heads.map((h) => [h.series, h.seq, h.hash, h.hwm]),
        [['global', g.state.eventSeq, g.state.lastHash, g.state.hwm], ['site-1@2025', arch.state.eventSeq, arch.state.lastHash, 1200], ['site-2@2026', s2.state.eventSeq, s2.state.lastHash, 103]],
      );
      await assert.rejects(restoreBackup(file, store.openLoader()), StoreNotEmptyError, 'a store holding data is refused');
      await assert.rejects(restoreBackup(file, store.openLoader(), { replace: true }), /it is newer/, 'the same store, newer than the backup: refused even with replace');
      await restoreBackup(file, store.openLoader(), { replace: true, allowOlder: true });
      store = await f.reopen(store);
      assert.deepEqual(await dumpStore(store, KEYS), before, 'every read answers what it did at the snapshot');
      // A reader that kept a state from before (the series cache of a running instance) must see
      // the restored series as changed: each is listed at a version none of its states had.
      for (const [series, version] of await store.seriesVersions()) {
        assert.ok(!seenVersions.get(series)?.has(version), `${series} restored at version ${version}, one it had before: ${[...(seenVersions.get(series) ?? [])].join(', ')}`);
      }
      assert.equal((await store.lookupRequests('global', ['after-snapshot'], 0)).size, 0);
      // Numbering goes on from the restored state, on the restored chain.
      const restored = await store.loadSeries('global', 1);
      const retry = planBatch(restored, [alloc(1, B, 'order-3')], await store.lookupNumbers('global', [2]), {
        batchId: 'transfer-retry',
        node: 'contract',
        now: Date.now(),
        gapPolicy: 'lowest-first',
        settings: { simulatedEnabled: true },
        requests: await store.lookupRequests('global', ['order-3'], Date.now() - DAY),
      });
      const replayed = retry.outcomes[0];
      assert.ok(retry.commit === null && replayed?.ok && replayed.kind === 'allocate', JSON.stringify({ commit: retry.commit !== null, replayed }));
      assert.deepEqual(replayed.numbers, [2], 'a retry of a restored key gets its numbers back, nothing new');
      // A restored store starts in maintenance: nothing is issued until someone switches it off.
      assert.equal((await store.loadSettings()).maintenance, true);
      const early = planBatch(restored, [alloc(3)], new Map(), { batchId: 'transfer-early', node: 'contract', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
      assert.ok(early.commit);
      await assert.rejects(store.commit(early.commit), MaintenanceError);
      const resumed = await apply(store, await store.loadSeries('global', 1), [{ kind: 'maintenance', enabled: false, reason: 'restore checked' }]);
      const more = await apply(store, resumed, [alloc(3)]); // the two open gaps, then the counter
      assert.equal(more.hwm, g.state.hwm + 1);
      // A backup of the restored store carries the same chains.
      const again = await store.openSnapshot();
      try {
        const second = await writeBackupFile(join(dir, 'two.seqd-backup'), backupLines({ snapshot: again, kind: store.kind, requestWindowMs: DAY, now: Date.now }));
        assert.deepEqual(second.heads.find((h) => h.series === 'site-2@2026'), summary.heads.find((h) => h.series === 'site-2@2026'));
      } finally {
        await again.close();
      }
      assert.deepEqual((await walkBackup(file)).counts, summary.counts);
    });

    it('refuses to open a store whose restore did not finish', async () => {
      const loader = store.openLoader();
      await loader.begin(false);
      await assert.rejects(store.loadIdentity(), (e: unknown) => e instanceof StoreUnavailableError && /restore into this store did not finish/.test(e.message));
      await loader.finish(null);
      assert.equal((await store.loadIdentity())?.storeId, 'transfer-test');
    });
  });
}
