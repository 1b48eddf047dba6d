import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../../src/domain/errors/index.js';
import { SQLITE_FILE, SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { spawnSeqd } from '../helpers/seqd-process.js';
import { http, startTestServer } from '../helpers/seqd-server.js';

const body = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
/** Every file is "large": the serving tables are checked before serving, the whole file after. */
const CHECK_AFTER_START = { sequence: { sqlite: { 'full-check-at-start-max-mb': 0 } } };

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A closed store whose trail spans many pages. */
async function ledger(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-integrity-'));
  dirs.push(dir);
  const s = await startTestServer({}, dir);
  for (let i = 0; i < 300; i++) await http(s.url, 'POST', '/api/v1/sequence/next', body);
  await s.close();
  return dir;
}

/** The middle one of `table`'s leaves, and the page size. */
function middleLeafOf(dir: string, table: string): { file: string; page: number; pageSize: number } {
  const file = join(dir, SQLITE_FILE);
  const db = new Database(file, { readonly: true });
  const pages = db.prepare<[string], { pageno: number }>("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno").all(table);
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  db.close();
  const page = pages[Math.floor(pages.length / 2)];
  assert.ok(page, `${table} has leaf pages`);
  return { file, page: page.pageno, pageSize };
}

/** Overwrites one page of `table` (the middle one of its leaves) with garbage, as a bad disk would. */
function damagePageOf(dir: string, table: string): void {
  const { file, page, pageSize } = middleLeafOf(dir, table);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, (page - 1) * pageSize);
  closeSync(fd);
}

/**
 * Turns the first column of a row in a leaf of `table` into NULL (its record header's serial type),
 * as a bit flip inside a row would: damage inside one page, which leaves the page's layout intact.
 */
function nullAColumnOf(dir: string, table: string): void {
  const { file, page, pageSize } = middleLeafOf(dir, table);
  const fd = openSync(file, 'r+');
  const bytes = Buffer.alloc(pageSize);
  readSync(fd, bytes, 0, pageSize, (page - 1) * pageSize);
  const cell = bytes.readUInt16BE(8);
  // The payload size (a varint), then the record: its header size, then the first serial type.
  let at = cell;
  while ((bytes.readUInt8(at) & 0x80) !== 0) at++;
  bytes.writeUInt8(0, at + 2);
  writeSync(fd, bytes, 0, pageSize, (page - 1) * pageSize);
  closeSync(fd);
}

/**
 * Puts the series table's page on the freelist, as a damaged trunk page would: the next page the
 * writer needs would be that page, and a commit of trail events would overwrite the series.
 */
function freeTheSeriesPage(dir: string): void {
  const file = join(dir, SQLITE_FILE);
  const db = new Database(file);
  db.exec("CREATE TABLE scratch (v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO scratch SELECT hex(randomblob(500)) FROM n; DROP TABLE scratch;");
  const series = db.prepare<[], { pageno: number }>("SELECT pageno FROM dbstat WHERE name = 'series' AND pagetype = 'leaf'").get();
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  db.close();
  assert.ok(series, 'the series table has a leaf');
  const fd = openSync(file, 'r+');
  const header = Buffer.alloc(100);
  readSync(fd, header, 0, 100, 0);
  const trunk = header.readUInt32BE(32);
  assert.ok(trunk > 0, 'the file has a freelist');
  const page = Buffer.alloc(pageSize);
  readSync(fd, page, 0, pageSize, (trunk - 1) * pageSize);
  const leaves = page.readUInt32BE(4);
  page.copy(page, 12, 8, 8 + 4 * leaves);
  page.writeUInt32BE(series.pageno, 8);
  page.writeUInt32BE(leaves + 1, 4);
  writeSync(fd, page, 0, pageSize, (trunk - 1) * pageSize);
  header.writeUInt32BE(header.readUInt32BE(36) + 1, 36);
  writeSync(fd, header, 0, 100, 0);
  closeSync(fd);
}

/**
 * Three more series, then one bit of one series' name flipped so that it sorts after the next:
 * the table's rows out of primary-key order. A lookup of the next series then misses its row,
 * and seqd would create it again from its start, giving its numbers a second time.
 */
function disorderSeries(dir: string): void {
  const file = join(dir, SQLITE_FILE);
  const db = new Database(file);
  const add = db.prepare("INSERT INTO series (name, start, hwm, version, event_seq, last_hash) VALUES (?, 1, 0, 0, 0, '')");
  for (const name of ['zz-series-b', 'zz-series-c', 'zz-series-d']) add.run(name);
  const leaf = db.prepare<[], { pageno: number }>("SELECT pageno FROM dbstat WHERE name = 'series' AND pagetype = 'leaf'").get();
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  db.close();
  assert.ok(leaf, 'the series table has a leaf');
  const fd = openSync(file, 'r+');
  const page = Buffer.alloc(pageSize);
  readSync(fd, page, 0, pageSize, (leaf.pageno - 1) * pageSize);
  const at = page.indexOf('zz-series-b', 0, 'latin1');
  assert.ok(at > 0, 'found the row');
  page.writeUInt8('zz-series-b'.charCodeAt(10) ^ 0x06, at + 10); // 'b' to 'd'
  writeSync(fd, page, 0, pageSize, (leaf.pageno - 1) * pageSize);
  closeSync(fd);
}

interface Ready {
  status: string;
  store: { healthy: boolean; detail: { integrityCheck?: string; error?: string } };
}

async function integrityCheckEnds(s: { readonly url: string }): Promise<Ready> {
  for (const until = Date.now() + 30_000; Date.now() < until; ) {
    const r = await http<Ready>(s.url, 'GET', '/ready');
    if (r.body.store.detail.integrityCheck !== 'running after start') return r.body;
    await new Promise((done) => setTimeout(done, 50));
  }
  assert.fail('the check after start did not end within 30 s');
}

describe('SQLite integrity check of a large file: its structure and serving tables before, the whole file after start', () => {
  it('a sound file: served at once, the check after start passes and serving goes on', async () => {
    const s = await startTestServer(CHECK_AFTER_START, await ledger());
    try {
      const ready = await integrityCheckEnds(s);
      assert.equal(ready.status, 'READY');
      assert.equal(ready.store.detail.integrityCheck, 'passed after start');
      assert.deepEqual((await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [301]);
    } finally {
      await s.close();
    }
  });

  it('a trail row damaged inside (a NOT NULL column read as NULL: inside one page, whose layout the map checks but not its rows): found after start, then every read and commit is refused and /ready says why', async () => {
    const dir = await ledger();
    nullAColumnOf(dir, 'events');
    const s = await startTestServer(CHECK_AFTER_START, dir);
    try {
      const ready = await integrityCheckEnds(s);
      assert.equal(ready.status, 'NOT_READY');
      assert.equal(ready.store.detail.integrityCheck, 'failed after start');
      assert.match(ready.store.detail.error ?? '', /failed its integrity check after start .*restore it from a backup/s);
      const next = await http<{ error: { code: string; message: string } }>(s.url, 'POST', '/api/v1/sequence/next', body);
      assert.equal(next.status, 503);
      assert.equal(next.body.error.code, 'STORE_UNAVAILABLE');
      assert.match(next.body.error.message, /integrity check after start/);
      const stats = await http(s.url, 'GET', '/api/v1/audit/verify?series=global');
      assert.equal(stats.status, 503, 'reads are refused too');
    } finally {
      await s.close();
    }
  });

  it('a page of the serving tables damaged while stopped: refused at start, as a small file is', async () => {
    const dir = await ledger();
    damagePageOf(dir, 'series');
    await assert.rejects(
      startTestServer(CHECK_AFTER_START, dir),
      (e: unknown) => e instanceof StoreUnavailableError && /failed its integrity check at start/.test(e.message),
    );
  });

  it('the freelist names the series table’s page (a check of the serving tables alone passes it): refused at start', async () => {
    const dir = await ledger();
    freeTheSeriesPage(dir);
    await assert.rejects(
      startTestServer(CHECK_AFTER_START, dir),
      (e: unknown) => e instanceof StoreUnavailableError && /failed its integrity check at start \(page \d+ is claimed by the freelist and by series/.test(e.message),
    );
  });

  it('a trail page overwritten with garbage: refused at start (the map finds a page of the wrong kind)', async () => {
    const dir = await ledger();
    damagePageOf(dir, 'events');
    await assert.rejects(
      startTestServer(CHECK_AFTER_START, dir),
      (e: unknown) => e instanceof StoreUnavailableError && /failed its integrity check at start \(events: page \d+ has page type 90/.test(e.message),
    );
  });

  it('nothing frees pages and no snapshot is read before the check after start has passed: both wait for it, and get its damage', async () => {
    const dir = await ledger();
    nullAColumnOf(dir, 'events');
    const store = new SqliteStore({ dataDir: dir, fullCheckMaxBytes: 0 });
    try {
      // No archive mark: once allowed, a purge removes nothing and answers 0 at once.
      await assert.rejects(store.purgeArchived('global'), /failed its integrity check after start/);
      await assert.rejects(store.openSnapshot(), /failed its integrity check after start/);
    } finally {
      await store.close();
    }
  });

  it('series rows out of primary-key order (SQLite’s quick check does not look at key order in tables without rowid): refused at start, small file or large', async () => {
    for (const config of [{}, CHECK_AFTER_START]) {
      const dir = await ledger();
      disorderSeries(dir);
      await assert.rejects(
        startTestServer(config, dir),
        (e: unknown) => e instanceof StoreUnavailableError && /failed its integrity check at start \(.*row not in PRIMARY KEY order for series/s.test(e.message),
      );
    }
  });

  it('killed with SIGKILL after acknowledged commits (their WAL left behind): checkpointed into the file, mapped, served, and numbering goes on after the last acknowledged number', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-integrity-'));
    dirs.push(dir);
    const config = join(dir, 'two-step.yml');
    writeFileSync(config, 'sequence:\n  sqlite:\n    full-check-at-start-max-mb: 0\n');
    const env = { SEQ_DATA_DIR: dir, SEQ_PROFILE: 'poc' };
    const first = await spawnSeqd(['--config', config], env);
    let last = 0;
    try {
      for (let i = 0; i < 200; i++) last = (await http<{ numbers: number[] }>(first.url, 'POST', '/api/v1/sequence/next', body)).body.numbers[0] ?? 0;
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }
    assert.equal(last, 200);
    assert.ok(statSync(join(dir, `${SQLITE_FILE}-wal`)).size > 0, 'the kill left commits in the WAL');
    const second = await spawnSeqd(['--config', config], env);
    try {
      assert.equal((await integrityCheckEnds(second)).store.detail.integrityCheck, 'passed after start');
      // The map read the file only after every commit of the WAL was in it (nothing committed since).
      assert.equal(statSync(join(dir, `${SQLITE_FILE}-wal`)).size, 0, 'the WAL was checkpointed before the map');
      assert.deepEqual((await http<{ numbers: number[] }>(second.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [201]);
    } finally {
      second.child.kill('SIGKILL');
      await second.exited;
    }
  });
});
