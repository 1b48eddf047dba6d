import { planBatch } from '../../src/domain/planner.js';
import type { Op, SeriesState } from '../../src/domain/types.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';

/**
 * Writes, straight into the embedded store of `dataDir` (no seqd running on it), a series that
 * issued `count` numbers to `siteId` and was closed at `closedAt` (epoch ms): history from before
 * a test's server started, which its clock cannot make.
 */
export async function writeClosedSeries(dataDir: string, o: { series: string; siteId: string; count: number; closedAt: number }): Promise<void> {
  const store = new SqliteStore({ dataDir });
  try {
    let state = await store.loadSeries(o.series, 1);
    const steps: { ops: Op[]; now: number }[] = [
      { ops: [{ kind: 'allocate', siteId: o.siteId, partitionId: 'partition-a', invoiceType: 'on-cycle', count: o.count }], now: o.closedAt - 86_400_000 },
      { ops: [{ kind: 'close', reason: 'period ended' }], now: o.closedAt },
    ];
    for (const [i, step] of steps.entries()) {
      const plan = planBatch(state, step.ops, new Map(), { batchId: `written-${o.series}-${i}`, node: 'test', now: step.now, gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
      if (!plan.commit) throw new Error(`nothing to commit in ${o.series}`);
      const r = await store.commit(plan.commit);
      if (r.status !== 'committed') throw new Error(`commit refused: ${r.status}`);
      state = { ...plan.commit.next, version: r.version } satisfies SeriesState;
    }
  } finally {
    await store.close();
  }
}
