import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { planBatch } from '../../src/domain/planner.js';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';

const missing = postgresMissing();
const ctx = (batchId: string) => ({ batchId, node: 'test', now: Date.now(), gapPolicy: 'lowest-first' as const, settings: { simulatedEnabled: true } });

/**
 * The maintenance gate on PostgreSQL: a switch waits for every batch that passed the gate before
 * it, so a copy taken once the switch answered holds every batch that will ever be acknowledged.
 * A batch is held in the middle of its transaction (its batch-id insert waits on a row another
 * session holds) while the switch is sent.
 */
describe('PostgreSQL maintenance gate', { skip: missing ?? false, timeout: 60_000 }, () => {
  let pg: TestPostgres;
  let store: PostgresStore;
  let raw: postgres.Sql;

  before(async () => {
    pg = await startTestPostgres();
    store = new PostgresStore({ url: pg.url, schema: 'gate', poolSize: 4 });
    await store.open();
    raw = postgres(pg.url, { max: 1, onnotice: () => undefined });
  });
  after(async () => {
    await raw?.end();
    await store?.close();
    await pg?.dispose();
  });

  it('a switch to maintenance waits for a batch in the middle of its commit, and a snapshot after the switch holds that batch', async () => {
    const state = await store.loadSeries('held', 1);
    const plan = planBatch(state, [{ kind: 'allocate', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 3 }], new Map(), ctx('held-batch'));
    assert.ok(plan.commit);
    const control = await store.loadSeries('control', 1);
    const switchOn = planBatch(control, [{ kind: 'maintenance', enabled: true, reason: 'gate test' }], new Map(), ctx('switch-on'));
    assert.ok(switchOn.commit);

    // Another session holds the batch id: the batch's insert of it waits, its transaction open.
    const held = await raw.reserve();
    await held.unsafe('BEGIN');
    await held.unsafe(`INSERT INTO gate.batches (batch_id, series, version, committed_at) VALUES ('held-batch', 'elsewhere', 0, 0)`);
    const batch = store.commit(plan.commit);
    await sleep(300);
    let switched = false;
    const sw = store.commit(switchOn.commit).then((r) => {
      switched = true;
      return r;
    });
    await sleep(500);
    assert.equal(switched, false, 'the switch waits for the batch that passed the gate before it');
    await held.unsafe('ROLLBACK');
    held.release();
    assert.equal((await batch).status, 'committed');
    assert.equal((await sw).status, 'committed');
    const snapshot = await store.openSnapshot();
    try {
      assert.equal((await snapshot.series('held'))?.state.hwm, 3, 'the snapshot after the switch holds the acknowledged batch');
    } finally {
      await snapshot.close();
    }
  });
});
