import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { StoreUnavailableError } from '../../src/domain/errors/index.js';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import { LATEST_SCHEMA } from '../../src/storage/postgres/postgres-schema.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';
import { seqdCommand } from '../helpers/seqd-command.js';

const missing = postgresMissing();

/** `seqd migrate-schema` against the test server, with the schema named in the environment. */
function migrateCli(pg: TestPostgres, schema: string, ...args: string[]) {
  const config = `sequence:\n  storage: postgres\n  postgres:\n    schema: ${schema}\n`;
  const env = { ...process.env, SEQ_POSTGRES_URL: pg.url, SEQ_PROFILE: '' };
  const file = join(tmpdir(), `seqd-migrate-${process.pid}-${schema}.yml`);
  writeFileSync(file, config);
  return spawnSync(process.execPath, [...seqdCommand(), 'migrate-schema', '--config', file, ...args], { encoding: 'utf8', env });
}

describe('PostgreSQL schema migrations', { skip: missing ?? false }, () => {
  let pg: TestPostgres;
  let sql: postgres.Sql;
  before(async () => {
    pg = await startTestPostgres();
    sql = postgres(pg.url, { onnotice: () => undefined });
  });
  after(async () => {
    await sql?.end();
    await pg?.dispose();
  });

  it('seqd migrate-schema --dry-run shows what it would apply and writes nothing; without it applies, then has nothing to do', async () => {
    const dry = migrateCli(pg, 'cli_schema', '--dry-run');
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /schema cli_schema: version 0; this seqd knows \d+/);
    assert.match(dry.stdout, /would apply 1: /);
    assert.equal((await sql`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'cli_schema'`)[0]?.n, 0, 'the dry run created the schema');
    const apply = migrateCli(pg, 'cli_schema');
    assert.equal(apply.status, 0, apply.stderr);
    assert.match(apply.stdout, new RegExp(`schema cli_schema is at version ${LATEST_SCHEMA}`));
    const again = migrateCli(pg, 'cli_schema', '--dry-run');
    assert.match(again.stdout, /nothing to apply/);
  });

  it('two instances starting at once on an empty schema: the migrations run once (advisory lock)', async () => {
    const stores = Array.from({ length: 4 }, () => new PostgresStore({ url: pg.url, schema: 'race_schema', poolSize: 2 }));
    await Promise.all(stores.map((s) => s.open()));
    const rows = await sql`SELECT version FROM race_schema.schema_migrations`;
    assert.equal(rows.length, LATEST_SCHEMA);
    await Promise.all(stores.map((s) => s.close()));
  });

  it('refuses a schema migrated by a newer seqd, at start and in the dry run (exit 3)', async () => {
    const store = new PostgresStore({ url: pg.url, schema: 'newer_schema' });
    await store.open();
    await store.close();
    await sql`INSERT INTO newer_schema.schema_migrations (version, description, applied_at) VALUES (${LATEST_SCHEMA + 1}, 'from the future', 0)`;
    const again = new PostgresStore({ url: pg.url, schema: 'newer_schema' });
    await assert.rejects(again.open(), (e: unknown) => e instanceof StoreUnavailableError && /newer seqd/.test(e.message));
    await again.close();
    const dry = migrateCli(pg, 'newer_schema', '--dry-run');
    assert.equal(dry.status, 3, dry.stdout + dry.stderr);
    assert.match(dry.stderr, /newer seqd/);
  });

  it('refuses a server that runs with fsync off (it would lose acknowledged commits)', async () => {
    const lossy = await startTestPostgres({ fsync: 'off' });
    try {
      const store = new PostgresStore({ url: lossy.url });
      await assert.rejects(store.open(), /fsync = off/);
      await store.close();
    } finally {
      await lossy.dispose();
    }
  });

  it('refuses several hosts without a synchronous standby: a failover would lose acknowledged numbers', async () => {
    const twoHosts = pg.url.replace(`127.0.0.1:${pg.port}`, `127.0.0.1:${pg.port},127.0.0.1:${pg.port}`);
    const store = new PostgresStore({ url: twoHosts, schema: 'two_hosts' });
    await assert.rejects(store.open(), /no synchronous standby/);
    await store.close();
  });

  for (const url of ['postgres://seqd:secret@127.0.0.1:1/db', 'postgres://seqd@127.0.0.1:1/db?sslmode=require&password=secret']) {
    it(`refuses a password in the URL (it would reach logs), naming the key: ${url.replace('secret', '…')}`, () => {
      const bad = spawnSync(process.execPath, [...seqdCommand(), 'migrate-schema', '--dry-run'], {
        encoding: 'utf8',
        env: { ...process.env, SEQ_PROFILE: '', SEQ_POSTGRES_URL: url },
      });
      assert.equal(bad.status, 2, bad.stdout + bad.stderr);
      assert.match(bad.stderr, /sequence\.postgres\.url/);
      assert.doesNotMatch(bad.stderr + bad.stdout, /secret/);
    });
  }
});
