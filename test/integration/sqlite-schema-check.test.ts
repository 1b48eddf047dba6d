import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../../src/domain/errors/index.js';
import { planBatch } from '../../src/domain/planner.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { http, startTestServer } from '../helpers/seqd-server.js';

const SERIES = 'global@2026';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A data dir whose series issued 1..3 (one allocation, committed and closed). */
async function issuedThree(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-schema-check-'));
  dirs.push(dir);
  const store = new SqliteStore({ dataDir: dir });
  try {
    const state = await store.loadSeries(SERIES, 1);
    const ctx = { batchId: 'b-1', node: 'test', now: Date.now(), gapPolicy: 'lowest-first' as const, settings: { simulatedEnabled: true } };
    const plan = planBatch(state, [{ kind: 'allocate', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 3 }], new Map(), ctx);
    assert.ok(plan.commit);
    assert.equal((await store.commit(plan.commit)).status, 'committed');
  } finally {
    await store.close();
  }
  return dir;
}

/** Edits the file with seqd stopped, as damage (or a hand) would. */
function edit(dir: string, work: (db: Database.Database) => void): void {
  const db = new Database(join(dir, 'seqd.sqlite'));
  try {
    work(db);
  } finally {
    db.close();
  }
}

/**
 * Rewrites the SQL text SQLite builds a schema object from (a damaged `sqlite_schema` row);
 * `renamed` also renames the row, as SQLite refuses a row whose name differs from its text's.
 */
function rewriteSchemaText(dir: string, name: string, from: string, to: string, renamed?: string): void {
  edit(dir, (db) => {
    // better-sqlite3 opens in SQLite's defensive mode, which forbids writing the schema table.
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    const r = db.prepare('UPDATE sqlite_schema SET sql = replace(sql, ?, ?), name = ?, tbl_name = ? WHERE name = ?').run(from, to, renamed ?? name, renamed ?? name, name);
    assert.equal(r.changes, 1, `no schema row named ${name}`);
    db.pragma('writable_schema = OFF');
  });
}

const refused = (dir: string, why: RegExp) =>
  assert.throws(
    () => new SqliteStore({ dataDir: dir }),
    (e: unknown) => e instanceof StoreUnavailableError && why.test(e.message) && /restore it from a backup/.test(e.message),
  );

async function nextHwm(dir: string): Promise<number> {
  const store = new SqliteStore({ dataDir: dir });
  try {
    return (await store.loadSeries(SERIES, 1)).hwm;
  } finally {
    await store.close();
  }
}

describe('SQLite schema check on open: the tables numbers are planned from are the ones seqd made', () => {
  it('a sound file, and a file just made, open', async () => {
    const dir = await issuedThree();
    assert.equal(await nextHwm(dir), 3);
  });

  it('the series table renamed in its schema text (the integrity check passes it): refused (seqd made an empty one, and the trail check stopped the series at its first use)', async () => {
    const dir = await issuedThree();
    rewriteSchemaText(dir, 'series', 'TABLE series', 'TABLE serieZ', 'serieZ');
    edit(dir, (db) => assert.equal(db.pragma('integrity_check', { simple: true }), 'ok'));
    refused(dir, /table series is missing.*a table seqd does not make \(serieZ\)|a table seqd does not make \(serieZ\).*table series is missing/);
  });

  it('the idempotency records renamed: refused (a retry of a lost reply would get new numbers)', async () => {
    const dir = await issuedThree();
    edit(dir, (db) => db.exec('DROP INDEX requests_age; DROP INDEX requests_key'));
    rewriteSchemaText(dir, 'requests', 'TABLE requests', 'TABLE requestZ', 'requestZ');
    refused(dir, /requests/);
  });

  it('two columns of the series table swapped in its text (hwm read from start): refused', async () => {
    const dir = await issuedThree();
    rewriteSchemaText(dir, 'series', 'start      INTEGER NOT NULL,\n  hwm ', 'hwm        INTEGER NOT NULL,\n  start ');
    edit(dir, (db) => assert.equal(db.prepare<[string], { hwm: number }>('SELECT hwm FROM series WHERE name = ?').get(SERIES)?.hwm, 1));
    refused(dir, /the columns of table series are not seqd's \(name TEXT PRIMARY KEY, hwm INTEGER NOT NULL, start INTEGER NOT NULL,/);
  });

  it('a column renamed (archive): refused at the current schema version, where adding it again would read every series as never archived', async () => {
    const dir = await issuedThree();
    rewriteSchemaText(dir, 'series', 'archive    TEXT', 'archivf    TEXT');
    refused(dir, /the added columns of table series are not seqd's \(closed_at INTEGER, archivf TEXT, last_ts INTEGER NOT NULL DEFAULT 0\)/);
  });

  it('a column missing from a file of the current version: refused; from an older version: added, as an upgrade does', async () => {
    const dir = await issuedThree();
    edit(dir, (db) => db.exec('ALTER TABLE events DROP COLUMN actor'));
    refused(dir, /the added columns of table events are not seqd's \(allocation INTEGER\)/);
    edit(dir, (db) => db.prepare("UPDATE meta SET value = '2' WHERE key = 'schema_version'").run());
    assert.equal(await nextHwm(dir), 3);
    edit(dir, (db) => assert.ok(db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('events')").all().some((c) => c.name === 'actor')));
  });

  it('an object seqd does not make (a table, an index or a trigger): refused', async () => {
    for (const ddl of ['CREATE TABLE extra (x)', 'CREATE INDEX numbers_extra ON numbers (status)', "CREATE TRIGGER t AFTER INSERT ON events BEGIN DELETE FROM numbers WHERE series = 'x'; END"]) {
      const dir = await issuedThree();
      edit(dir, (db) => db.exec(ddl));
      refused(dir, /does not make|unknown/i);
    }
  });

  it('an older file whose added column SQLite reads under another name (a no-break space in its text): refused, before and after what opening adds', async () => {
    const dir = await issuedThree();
    edit(dir, (db) => {
      db.prepare("UPDATE meta SET value = '3' WHERE key = 'schema_version'").run();
      schemaSql(db, 'series', 'closed_at  INTEGER', 'closed_at\u00a0 INTEGER');
    });
    refused(dir, /characters seqd never writes/);
  });

  it('a file with seqd tables but no schema version: refused', async () => {
    const dir = await issuedThree();
    edit(dir, (db) => db.prepare("DELETE FROM meta WHERE key = 'schema_version'").run());
    refused(dir, /schema version/i);
  });

  it('a file of schema version 1 (no idempotency records, none of the added columns or indexes) is brought up to date, and opens again after', async () => {
    const dir = await issuedThree();
    edit(dir, (db) => {
      db.exec('DROP INDEX requests_key; DROP INDEX requests_age; DROP TABLE requests');
      for (const [table, column] of [['series', 'closed_at'], ['series', 'archive'], ['series', 'last_ts'], ['numbers', 'grant_seq'], ['numbers', 'previous'], ['events', 'allocation'], ['events', 'actor']]) {
        db.exec(`ALTER TABLE ${table} DROP COLUMN ${column}`);
      }
      db.prepare("UPDATE meta SET value = '1' WHERE key = 'schema_version'").run();
    });
    assert.equal(await nextHwm(dir), 3);
    // Added back in the order of the upgrade (closed_at, last_ts, archive), not of a new file.
    edit(dir, (db) => assert.deepEqual(db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('series')").all().slice(-3).map((c) => c.name), ['closed_at', 'last_ts', 'archive']));
    assert.equal(await nextHwm(dir), 3);
  });

  it('a creation that stopped before its version was written (empty tables), the index of one earlier build, and the statistics of an ANALYZE: opened', async () => {
    const dir = await issuedThree();
    edit(dir, (db) => db.exec("CREATE INDEX events_import_first ON events (series, first) WHERE type = 'import'; ANALYZE"));
    assert.equal(await nextHwm(dir), 3);
    const fresh = mkdtempSync(join(tmpdir(), 'seqd-schema-check-'));
    dirs.push(fresh);
    edit(fresh, (db) => db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID'));
    assert.equal(await nextHwm(fresh), 0);
  });

  it('what the first review found passing: a trigger under the retired index name or an internal name, a collation on the idempotency key, the added columns swapped, a version seqd never wrote', async () => {
    const cases: [string, (db: Database.Database) => void, RegExp][] = [
      // Each of these keeps keys from being stored, or finds another key's record: a retry would get new numbers, or a new invoice another's.
      ['retired name', (db) => db.exec('CREATE TRIGGER events_import_first BEFORE INSERT ON requests BEGIN SELECT RAISE(IGNORE); END'), /a trigger seqd does not make \(events_import_first\)/],
      ['retired name, another index', (db) => db.exec('CREATE UNIQUE INDEX events_import_first ON requests (series)'), /index events_import_first is not the one seqd makes/],
      ['internal name', (db) => {
        db.unsafeMode(true);
        db.pragma('writable_schema = ON');
        db.exec('CREATE TRIGGER sqlite_keep BEFORE INSERT ON requests BEGIN SELECT RAISE(IGNORE); END');
      }, /trigger seqd does not make \(sqlite_keep\)/],
      ['collation', (db) => schemaSql(db, 'requests', 'key          TEXT NOT NULL', 'key          TEXT NOT NULL COLLATE NOCASE'), /the columns of table requests are not seqd's/],
      ['added swapped', (db) => schemaSql(db, 'events', 'allocation INTEGER, actor TEXT', 'actor TEXT, allocation INTEGER'), /the added columns of table events are not seqd's \(actor TEXT, allocation INTEGER\)/],
      // SQLite reads "grant_seq<no-break space>INTEGER" as a column of that name: grant_seq would be added again, 0 everywhere, and a release with an old allocation token would free a number handed out since.
      ['no-break space', (db) => schemaSql(db, 'numbers', 'grant_seq INTEGER', 'grant_seq\u00a0INTEGER'), /table numbers has characters seqd never writes/],
      ['a definition stored as a blob', (db) => {
        db.unsafeMode(true);
        db.pragma('writable_schema = ON');
        db.exec("UPDATE sqlite_schema SET sql = CAST(sql AS BLOB) WHERE name = 'events_first'");
      }, /index events_first is not the one seqd makes/],
      ['a version stored as a blob', (db) => db.exec("UPDATE meta SET value = CAST('4' AS BLOB) WHERE key = 'schema_version'"), /schema version "<object>" is not one seqd wrote/],
      ['version', (db) => db.prepare("UPDATE meta SET value = '4.0' WHERE key = 'schema_version'").run(), /schema version "4.0" is not one seqd wrote/],
    ];
    for (const [what, damage, why] of cases) {
      const dir = await issuedThree();
      edit(dir, damage);
      assert.throws(() => new SqliteStore({ dataDir: dir }), (e: unknown) => e instanceof StoreUnavailableError && why.test(e.message), what);
    }
  });
});

describe('SQLite schema check through a real server', () => {
  it('a collation on the idempotency key (a new invoice with key INV-A was answered with the number of inv-a, as a replay): seqd does not start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-schema-check-'));
    dirs.push(dir);
    const body = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 };
    const first = await startTestServer({}, dir);
    try {
      assert.equal((await http(first.url, 'POST', '/api/v1/sequence/next', body, { 'idempotency-key': 'inv-a' })).body.sequenceNumber, 1);
    } finally {
      await first.close();
    }
    edit(dir, (db) => schemaSql(db, 'requests', 'key          TEXT NOT NULL', 'key          TEXT NOT NULL COLLATE NOCASE'));
    await assert.rejects(startTestServer({}, dir), (e: unknown) => e instanceof StoreUnavailableError && /the columns of table requests are not seqd's/.test(e.message));
  });
});

/** Replaces text in a table's schema SQL on an open handle (see rewriteSchemaText). */
function schemaSql(db: Database.Database, name: string, from: string, to: string): void {
  db.unsafeMode(true);
  db.pragma('writable_schema = ON');
  assert.equal(db.prepare('UPDATE sqlite_schema SET sql = replace(sql, ?, ?) WHERE name = ? AND instr(sql, ?) > 0').run(from, to, name, from).changes, 1, `${from} not in ${name}`);
  db.pragma('writable_schema = OFF');
}
