import { serialize } from 'node:v8';
import { rmSync } from 'node:fs';
import { planBatch } from './src/domain/planner.js';
import { SqliteStore } from './src/storage/sqlite/sqlite-store.js';
import type { Op } from './src/domain/types.js';
rmSync('/tmp/clone-d', { recursive: true, force: true });
const store = new SqliteStore({ dataDir: '/tmp/clone-d' });
const state = await store.loadSeries('g', 1);
const ops: Op[] = Array.from({ length: 25 }, (_, i) => ({ kind: 'allocate', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1, actor: null } as Op));
const plan = planBatch(state, ops, new Map(), { batchId: 'b-1', node: 'n', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
const msg = { id: 1, plan: { ...plan.commit!, next: { ...plan.commit!.next, openGaps: [] } } };
console.log(JSON.stringify(msg).length, Object.keys(plan.commit!));
console.log(JSON.stringify(msg.plan.events?.[0] ?? msg).slice(0, 600));
const N = 20000;
for (let round = 0; round < 3; round++) {
  let t = performance.now(); for (let i = 0; i < N; i++) serialize(msg); const a = (performance.now() - t) / N;
  t = performance.now(); for (let i = 0; i < N; i++) JSON.stringify(msg); const b = (performance.now() - t) / N;
  console.log(`v8.serialize ${(a * 1000).toFixed(1)} us, JSON.stringify ${(b * 1000).toFixed(1)} us per 25-op plan`);
}
await store.close();
