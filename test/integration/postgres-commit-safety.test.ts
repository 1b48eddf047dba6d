import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { OutcomeUnknownError, StoreUnavailableError } from '../../src/domain/errors/index.js';
import { planBatch } from '../../src/domain/planner.js';
import type { SeriesState } from '../../src/domain/types.js';
import { isSyncWaitCancelled, PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';

const missing = postgresMissing();
let batchNo = 0;

/** A plan of one allocation on `state`, with an idempotency key when given one. */
function planOne(state: SeriesState, requestId?: string) {
  const plan = planBatch(state, [{ kind: 'allocate', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1, ...(requestId ? { requestId } : {}) }], new Map(), {
    batchId: `safety-${process.pid}-${++batchNo}`,
    node: 'safety',
    now: Date.now(),
    gapPolicy: 'lowest-first',
    settings: { simulatedEnabled: true },
  });
  assert.ok(plan.commit);
  return plan.commit;
}

// Commits that wait for a synchronous standby which never answers (synchronous_standby_names
// names one that does not exist, set once the store and its series exist): the state a primary
// is in when its standby is gone.
describe('PostgreSQL store: commits whose synchronous replication does not complete', { skip: missing ?? false, timeout: 60_000 }, () => {
  let pg: TestPostgres;
  let admin: postgres.Sql;
  before(async () => {
    pg = await startTestPostgres();
    admin = postgres(pg.url, { onnotice: () => undefined });
  });
  after(async () => {
    await admin?.end({ timeout: 1 });
    await pg?.dispose();
  });
  const standby = async (name: string) => {
    await admin.unsafe(`ALTER SYSTEM SET synchronous_standby_names = '${name}'`);
    await admin`SELECT pg_reload_conf()`;
    await sleep(200);
  };
  /** A store whose schema and series exist, then a standby that never confirms. */
  const storeWithoutStandby = async (schema: string, resolveTimeoutMs: number) => {
    await standby('');
    const store = new PostgresStore({ url: pg.url, schema, resolveTimeoutMs });
    const state = await store.loadSeries('global', 1);
    await standby('ghost');
    return { store, state };
  };
  const waitingOnStandby = async () => {
    for (let i = 0; i < 100; i++) {
      const rows = await admin`SELECT pid FROM pg_stat_activity WHERE application_name = 'seqd' AND wait_event = 'SyncRep'`;
      if (rows.length > 0) return rows.map((r) => Number(r.pid));
      await sleep(50);
    }
    throw new Error('no commit waits for the standby');
  };

  it('fails closed: a commit the standby never confirms answers OUTCOME_UNKNOWN in bounded time, never committed', async () => {
    const { store, state } = await storeWithoutStandby('standby_gone', 1500);
    try {
      const outcome = store.commit(planOne(state)).then(
        (r) => r.status,
        (e: unknown) => e,
      );
      await waitingOnStandby();
      // While it waits, reads of the series still answer (they must not queue behind its lock).
      assert.equal((await store.loadSeries('global', 1)).hwm, 0);
      const result = await Promise.race([outcome, sleep(15_000, 'still waiting after 15 s')]);
      assert.ok(result instanceof OutcomeUnknownError, `answered ${String(result)}`);
    } finally {
      await standby('');
      await store.close();
    }
  });

  it('a cancelled wait for the standby (committed locally, not replicated) is never answered committed', async () => {
    const { store, state } = await storeWithoutStandby('standby_cancel', 20_000);
    try {
      const outcome = store.commit(planOne(state)).then(
        (r) => r.status,
        (e: unknown) => e,
      );
      const pids = await waitingOnStandby();
      // An operator's pg_cancel_backend, a pooler's timeout or an HA agent: PostgreSQL commits
      // locally with a WARNING; a failover now would lose the batch.
      for (const pid of pids) await admin`SELECT pg_cancel_backend(${pid})`;
      const result = await Promise.race([outcome, sleep(15_000, 'no answer')]);
      assert.ok(result instanceof OutcomeUnknownError, `answered ${String(result)}`);
    } finally {
      await standby('');
      await store.close();
    }
  });

  it('the cancel is recognised by the server routine that raises it, whatever the language of its message', async () => {
    await standby('');
    const notices: postgres.Notice[] = [];
    const raw = postgres(pg.url, { max: 1, onnotice: (n) => notices.push(n), connection: { application_name: 'seqd' } });
    try {
      await raw`CREATE TABLE IF NOT EXISTS notice_probe (x int)`;
      await standby('ghost');
      const insert = raw`INSERT INTO notice_probe VALUES (1)`.then(() => 'done');
      for (const pid of await waitingOnStandby()) await admin`SELECT pg_cancel_backend(${pid})`;
      assert.equal(await insert, 'done');
      const cancel = notices.find((n) => isSyncWaitCancelled(n));
      assert.ok(cancel, JSON.stringify(notices));
      assert.equal(cancel.routine, 'SyncRepWaitForLSN');
      // A server answering in another language (lc_messages) is still recognised.
      assert.equal(isSyncWaitCancelled({ ...cancel, message: 'Warten auf synchrone Replikation wird abgebrochen' }), true);
      assert.equal(isSyncWaitCancelled({ routine: 'exec_simple_query', message: 'there is already a transaction in progress' }), false);
    } finally {
      await standby('');
      await raw.end({ timeout: 1 });
    }
  });

  it('the same batch re-sent after such a cancel is not answered committed until the standby has it', async () => {
    const { store, state } = await storeWithoutStandby('standby_resend', 3000);
    try {
      const plan = planOne(state);
      const first = store.commit(plan).then(
        (r) => r.status,
        (e: unknown) => e,
      );
      for (const pid of await waitingOnStandby()) await admin`SELECT pg_cancel_backend(${pid})`;
      assert.ok((await first) instanceof OutcomeUnknownError);
      // What the series worker does with an unknown outcome: send the very plan again. Its
      // compare-and-swap fails (its first attempt moved the version) and its batch id is there,
      // on the primary only: answering "committed" now would let a failover hand the numbers out again.
      const again = await store.commit(plan).then(
        (r) => r.status,
        (e: unknown) => e,
      );
      assert.ok(again instanceof OutcomeUnknownError, `re-sent batch answered ${String(again)}`);
      // Once no standby is required, the batch is as durable as the server is told to make it.
      await standby('');
      assert.equal((await store.commit(plan)).status, 'committed');
    } finally {
      await standby('');
      await store.close();
    }
  });

  it('a batch found absent after a failed attempt can never land later: its delayed attempts are fenced off', async () => {
    await standby('');
    const store = new PostgresStore({ url: pg.url, schema: 'fence', resolveTimeoutMs: 3000 });
    try {
      const state = await store.loadSeries('global', 1);
      const plan = planOne(state);
      // An attempt the server refuses for a reason of its own (here a NOT NULL column): the store
      // reads the batch back under the row lock, finds it absent and answers "nothing committed".
      const broken = { ...plan, events: plan.events.map((e) => ({ ...e, node: null as unknown as string })) };
      await assert.rejects(store.commit(broken), StoreUnavailableError);
      // Another attempt of the very same batch reaching the server only now (queued in a
      // connection, delayed by the network) must not land: the answer given was final.
      const late = await store.commit(plan);
      assert.equal(late.status, 'conflict');
      assert.equal((await store.loadSeries('global', 1)).hwm, 0);
    } finally {
      await store.close();
    }
  });

  it('a batch refused for a key another commit took can never land later, even once that record is swept', async () => {
    await standby('');
    const store = new PostgresStore({ url: pg.url, schema: 'fence_key', resolveTimeoutMs: 3000 });
    try {
      const other = await store.loadSeries('other', 1);
      const mine = await store.loadSeries('mine', 1);
      assert.equal((await store.commit(planOne(other, 'shared-key'))).status, 'committed');
      const plan = planOne(mine, 'shared-key');
      assert.equal((await store.commit(plan)).status, 'conflict');
      // The other commit's record is swept; an attempt of the refused batch arriving only now
      // must still not land: "conflict" was final.
      await admin.unsafe(`DELETE FROM fence_key.requests WHERE key = 'shared-key'`);
      assert.equal((await store.commit(plan)).status, 'conflict');
      assert.equal((await store.loadSeries('mine', 1)).hwm, 0);
    } finally {
      await store.close();
    }
  });
});
