import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { planBatch } from '../../src/domain/planner.js';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import { pgbouncerMissing, startTestPgBouncer, type TestPgBouncer } from '../helpers/pgbouncer.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

const missing = postgresMissing() ?? pgbouncerMissing();
const holder = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' } as const;

describe('PostgreSQL behind PgBouncer (transaction mode, two server connections)', { skip: missing ?? false }, () => {
  let pg: TestPostgres;
  let pooler: TestPgBouncer;
  let admin: postgres.Sql;
  const servers: TestServer[] = [];
  const stores: PostgresStore[] = [];

  /** Changes the server's own settings (what a write outside seqd's transactions runs with). */
  const serverSettings = async (settings: Record<string, string | null>) => {
    for (const [name, value] of Object.entries(settings)) {
      await admin.unsafe(value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = '${value}'`);
    }
    await admin.unsafe('SELECT pg_reload_conf()');
    // Each backend reads the files again at its next command once signalled: this one too.
    const expected = settings.synchronous_commit ?? 'on';
    for (let i = 0; i < 100; i++) {
      const [row] = await admin.unsafe<{ synchronous_commit: string }[]>('SHOW synchronous_commit');
      if (row?.synchronous_commit === expected) return;
      await sleep(50);
    }
    throw new Error(`the server did not take synchronous_commit = ${expected}`);
  };

  before(async () => {
    if (missing) return;
    // synchronous_commit from the configuration files, so that ALTER SYSTEM changes it.
    pg = await startTestPostgres({ synchronous_commit: null });
    pooler = await startTestPgBouncer(pg.port, 'transaction');
    admin = postgres(pg.url, { max: 1, onnotice: () => undefined });
  });
  after(async () => {
    for (const s of servers) await s.dispose();
    for (const s of stores) await s.close();
    await admin?.end();
    await pooler?.dispose();
    await pg?.dispose();
  });

  it('without the setting, seqd does not start and names it (PgBouncer refuses its connection settings)', async () => {
    const store = new PostgresStore({ url: pooler.url, schema: 'unset', poolSize: 1 });
    stores.push(store);
    await assert.rejects(store.open(), /unsupported startup parameter.*set sequence\.postgres\.pooler to its pool mode/);
  });

  it('serves keyed requests from many clients: every number once, in order, and a retry gets its own again', async () => {
    const s = await startTestServer({ sequence: { storage: 'postgres', postgres: { url: pooler.url, schema: 'served', 'pool-size': 6, pooler: 'transaction' } } });
    servers.push(s);
    const take = (key: string) => http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, requestId: key });
    const first = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 12 }, async (_, client) => {
        for (let i = 0; i < 10; i++) {
          const reply = await take(`c${client}-${i}`);
          assert.equal(reply.status, 200, JSON.stringify(reply.body));
          first.set(`c${client}-${i}`, reply.body.numbers[0] ?? -1);
        }
      }),
    );
    assert.deepEqual([...first.values()].sort((a, b) => a - b), Array.from({ length: 120 }, (_, i) => i + 1));
    for (const [key, number] of first) {
      const again = await take(key);
      assert.equal(again.status, 200);
      assert.deepEqual(again.body.numbers, [number], `${key} retried`);
    }
  });

  it("commits, and writes outside a batch, with synchronous_commit = on whatever the server's default has become since the start", async () => {
    const store = new PostgresStore({ url: pooler.url, schema: 'durable', poolSize: 2, pooler: 'transaction', resolveTimeoutMs: 60_000, statementTimeoutMs: 60_000 });
    stores.push(store);
    await store.open();
    const state = await store.loadSeries('durable', 1);
    const plan = planBatch(state, [{ kind: 'allocate', ...holder, count: 1 }], new Map(), {
      batchId: 'durable-1',
      node: 'test',
      now: Date.now(),
      gapPolicy: 'lowest-first',
      settings: { simulatedEnabled: true },
    }).commit;
    assert.ok(plan);
    // A standby nobody runs is required now, and the server's own default no longer waits for it.
    await serverSettings({ synchronous_standby_names: 'ghost', synchronous_commit: 'local' });
    const answered: string[] = [];
    const commit = store.commit(plan).finally(() => answered.push('the commit'));
    // A series made on first use: its row is written outside any batch.
    const created = store.loadSeries('made-now', 1).finally(() => answered.push('the new series'));
    try {
      await sleep(1500);
      assert.deepEqual(answered, [], 'answered without the synchronous standby: it ran with the server default (local)');
    } finally {
      await serverSettings({ synchronous_standby_names: null, synchronous_commit: null });
    }
    assert.equal((await commit).status, 'committed');
    assert.equal((await created).hwm, 0);
  });

  it('refuses a server whose own synchronous_commit would let a write answer before it is durable', async () => {
    for (const value of ['off', 'local', 'remote_write']) {
      await serverSettings({ synchronous_commit: value });
      try {
        const store = new PostgresStore({ url: pooler.url, schema: 'refused', poolSize: 1, pooler: 'transaction' });
        stores.push(store);
        await assert.rejects(store.open(), new RegExp(`synchronous_commit = ${value}: behind a pooler`));
      } finally {
        await serverSettings({ synchronous_commit: null });
      }
    }
  });

  it('without a pooler, refuses a connection that does not run with the synchronous_commit seqd asked for', async () => {
    // The URL's setting wins over the one seqd sends; a pooler told to ignore it drops it alike.
    const store = new PostgresStore({ url: `${pg.url}?synchronous_commit=local`, schema: 'direct', poolSize: 1 });
    stores.push(store);
    await assert.rejects(store.open(), /seqd's connections with synchronous_commit = local, not the on seqd asks for/);
  });
});
