import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, StoreIdentityError, StoreUnavailableError } from '../../src/domain/errors/index.js';
import { spawnSeqd } from '../helpers/seqd-process.js';
import { SQLITE_FILE } from '../../src/storage/sqlite/sqlite-store.js';
import { MARKER_FILE } from '../../src/storage/store-marker.js';
import type { SequenceStore, StoreIdentity } from '../../src/storage/sequence-store.js';
import { http, startTestServer } from '../helpers/seqd-server.js';
import { seqdCommand } from '../helpers/seqd-command.js';

const body = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-identity-'));
  dirs.push(dir);
  return dir;
}

/** `seqd change-numbering` on the poc profile with `args`. */
function changeNumbering(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [...seqdCommand(), 'change-numbering', '--profile', 'poc', ...args], { encoding: 'utf8', env: { ...process.env, SEQ_PROFILE: '' } });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** A data directory whose global series has issued `count` numbers, the server stopped. */
async function ledger(count: number, overrides: Record<string, unknown> = {}): Promise<string> {
  const dir = freshDir();
  const s = await startTestServer(overrides, dir);
  const r = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...body, count });
  assert.equal(r.body.numbers.length, count);
  await s.close();
  return dir;
}

describe('a store that existed is never silently recreated (issue 13, item 3)', () => {
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('refuses a zero-byte database where the marker says a ledger was', async () => {
    const dir = await ledger(8);
    for (const suffix of ['-wal', '-shm']) rmSync(join(dir, SQLITE_FILE + suffix), { force: true });
    truncateSync(join(dir, SQLITE_FILE), 0);
    await assert.rejects(startTestServer({}, dir), (e: unknown) => e instanceof StoreIdentityError && /lost, emptied or replaced/.test(e.message));
  });

  it('refuses a deleted database', async () => {
    const dir = await ledger(3);
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(dir, SQLITE_FILE + suffix), { force: true });
    await assert.rejects(startTestServer({}, dir), StoreIdentityError);
  });

  it('refuses a database rolled back to an older copy', async () => {
    const dir = freshDir();
    const a = await startTestServer({}, dir);
    await http(a.url, 'POST', '/api/v1/sequence/next', { ...body, count: 2 });
    await a.close();
    // A copy taken while the ledger was at 2, put back after it moved on to 5.
    const copy = join(dir, 'old.sqlite');
    copyFileSync(join(dir, SQLITE_FILE), copy);
    const b = await startTestServer({}, dir);
    await http(b.url, 'POST', '/api/v1/sequence/next', { ...body, count: 3 });
    await b.close();
    copyFileSync(copy, join(dir, SQLITE_FILE));
    await assert.rejects(startTestServer({}, dir), (e: unknown) => e instanceof StoreIdentityError && /older than/.test(e.message));
  });

  it('refuses another ledger put in place of this one', async () => {
    const one = await ledger(2);
    const two = await ledger(2);
    copyFileSync(join(two, SQLITE_FILE), join(one, SQLITE_FILE));
    await assert.rejects(startTestServer({}, one), (e: unknown) => e instanceof StoreIdentityError && /another ledger/.test(e.message));
  });

  it('keeps working across clean restarts, and a new ledger starts when both database and marker are new', async () => {
    const dir = await ledger(2);
    const marker = JSON.parse(readFileSync(join(dir, MARKER_FILE), 'utf8')) as { storeId: string; heads: Record<string, { seq: number }> };
    assert.ok(marker.heads.global && marker.heads.global.seq >= 1, 'the marker holds the head seen committed');
    const s = await startTestServer({}, dir);
    const r = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', body);
    assert.deepEqual(r.body.numbers, [3]);
    await s.close();
    unlinkSync(join(dir, MARKER_FILE));
    // Without a marker the existing database is adopted under its own identity.
    const t = await startTestServer({}, dir);
    assert.deepEqual((await http<{ numbers: number[] }>(t.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [4]);
    await t.close();
    assert.equal((JSON.parse(readFileSync(join(dir, MARKER_FILE), 'utf8')) as { storeId: string }).storeId, marker.storeId);
  });

  it('a second seqd process on the same data directory is refused while the first runs', async () => {
    const dir = freshDir();
    const a = await spawnSeqd([], { SEQ_DATA_DIR: dir, SEQ_PROFILE: 'poc' });
    await assert.rejects(startTestServer({}, dir), (e: unknown) => e instanceof StoreUnavailableError && /another seqd/.test(e.message));
    a.child.kill('SIGTERM');
    await a.exited;
    // Released at exit: the next start takes it.
    await (await startTestServer({}, dir)).close();
  });

  it('a damaged database file stops the CLI with one clear message, written to the log file too', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, SQLITE_FILE), 'this is not a database, just text long enough to be read');
    const err = await spawnSeqd([], { SEQ_DATA_DIR: dir, SEQ_PROFILE: 'poc' }).then(
      () => assert.fail('seqd started on a damaged file'),
      (e: unknown) => e as Error,
    );
    assert.match(err.message, /exited \(3\)/);
    assert.match(err.message, /cannot be opened as a seqd database/);
    assert.doesNotMatch(err.message, /sonic boom|at .*\.ts:\d+/i, 'no second crash, no raw stack on the console');
    assert.match(readFileSync(join(dir, 'logs', 'sequential-number-poc.log'), 'utf8'), /cannot be opened as a seqd database/);
  });

  for (const damage of ['a page overwritten in the middle', 'the file cut to half its size'] as const) {
    it(`a database file damaged while stopped (${damage}) is refused at start by its integrity check`, async () => {
      const dir = freshDir();
      const s = await startTestServer({}, dir);
      for (let i = 0; i < 300; i++) await http(s.url, 'POST', '/api/v1/sequence/next', body);
      await s.close();
      const file = join(dir, SQLITE_FILE);
      const size = statSync(file).size;
      assert.ok(size > 64 * 1024, `the file holds many pages (${size} bytes)`);
      if (damage === 'the file cut to half its size') truncateSync(file, Math.floor(size / 2 / 4096) * 4096);
      else {
        const fd = openSync(file, 'r+');
        writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(size / 2 / 4096) * 4096);
        closeSync(fd);
      }
      await assert.rejects(startTestServer({}, dir), (e: unknown) => e instanceof StoreUnavailableError && /integrity check|cannot be opened/.test(e.message) && /restore it from a backup/.test(e.message));
    });
  }

  it('a damaged marker stops start-up with a clear message', async () => {
    const dir = await ledger(1);
    writeFileSync(join(dir, MARKER_FILE), '{"storeId": ');
    await assert.rejects(startTestServer({}, dir), (e: unknown) => e instanceof StoreIdentityError && /damaged/.test(e.message));
  });
});

describe('numbering never restarts by a configuration change (issue 13, item 2)', () => {
  it('refuses split-by [site] on a store whose global series issued numbers, naming the key', async () => {
    const dir = await ledger(8);
    await assert.rejects(
      startTestServer({ sequence: { series: { 'split-by': ['site'] } } }, dir),
      (e: unknown) => e instanceof ConfigError && e.key === 'sequence.series.split-by' && /seqd change-numbering/.test(e.message),
    );
    // The old configuration still starts and continues at 9.
    const s = await startTestServer({}, dir);
    assert.deepEqual((await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [9]);
    await s.close();
  });

  it('refuses enabling a rollover, and a changed format of a series that printed numbers', async () => {
    const format = { prefix: 'INV', padding: 6, year: true };
    const dir = await ledger(2, { sequence: { format } });
    await assert.rejects(
      startTestServer({ sequence: { format, series: { rollover: { enabled: true } } } }, dir),
      (e: unknown) => e instanceof ConfigError && e.key === 'sequence.series.rollover',
    );
    await assert.rejects(
      startTestServer({ sequence: { format: { ...format, padding: 8 } } }, dir),
      (e: unknown) => e instanceof ConfigError && e.key === 'sequence.format' && /padding/.test(e.message),
    );
  });

  it('takes a new numbering freely while nothing was issued', async () => {
    const dir = freshDir();
    await (await startTestServer({}, dir)).close();
    const s = await startTestServer({ sequence: { series: { 'split-by': ['site'] } } }, dir);
    assert.equal((await http<{ series: string }>(s.url, 'POST', '/api/v1/sequence/next', body)).body.series, 'site-1');
    await s.close();
  });

  it('a store from before identities is adopted only when its series fit the configuration', async () => {
    const dir = await ledger(4);
    // As an older seqd left it: no identity in the database, no marker beside it.
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(join(dir, SQLITE_FILE));
    db.prepare("DELETE FROM meta WHERE key = 'identity'").run();
    db.close();
    unlinkSync(join(dir, MARKER_FILE));
    await assert.rejects(startTestServer({ sequence: { series: { 'split-by': ['site'] } } }, dir), (e: unknown) => e instanceof ConfigError && /global/.test(e.message));
    const s = await startTestServer({}, dir);
    assert.deepEqual((await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [5]);
    await s.close();
  });
});

describe('a printed number is never printed again by a series that replaced another', () => {
  const format = { prefix: 'INV', padding: 6, year: true };
  const oneSite = (id: string) => [{ id, partitions: ['partition-a'] }];
  const bySite = (id: string, prefix = 'INV') => ({ sequence: { format: { ...format, prefix }, sites: oneSite(id), series: { 'split-by': ['site'] } } });

  it('refuses a renamed site whose numbers would print like those the old site printed', async () => {
    const dir = await ledger(3, bySite('site-1'));
    await assert.rejects(
      startTestServer(bySite('site-9'), dir),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.key === 'sequence.format.prefix' &&
        /"site-9" would print numbers such as "INV-\d{4}-000001" that series "site-1" of this store already printed/.test(e.message) &&
        /\{site\}/.test(e.message),
    );
    // The old site still starts and continues its own numbers.
    const s = await startTestServer(bySite('site-1'), dir);
    assert.deepEqual((await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [4]);
    await s.close();
  });

  it('a site added with a format of its own restarts under it, and its printed numbers stay taken when it is renamed', async () => {
    const dir = await ledger(1, bySite('site-1', 'INV-{site}'));
    const twoSites = (second: string) => ({
      sequence: {
        format: { ...format, prefix: 'INV-{site}' },
        sites: [...oneSite('site-1'), ...oneSite(second)],
        series: { 'split-by': ['site'], formats: { [second]: { ...format, prefix: 'X' } } },
      },
    });
    const a = await startTestServer(twoSites('site-2'), dir);
    const printed = await http<{ formatted: string[] }>(a.url, 'POST', '/api/v1/sequence/next', { ...body, siteId: 'site-2', count: 3 });
    assert.match(printed.body.formatted[0] ?? '', /^X-\d{4}-000001$/);
    await a.close();
    // The same configuration again: the store took site-2's format when it started.
    await (await startTestServer(twoSites('site-2'), dir)).close();
    // Renamed, site-2 leaves its own format: a change of numbering, to record, and refused there.
    await assert.rejects(startTestServer(twoSites('site-3'), dir), (e: unknown) => e instanceof ConfigError && e.key === 'sequence.series.formats.site-2');
    const renamed = join(dir, 'renamed.yml');
    writeFileSync(renamed, JSON.stringify(twoSites('site-3')));
    const r = changeNumbering(['--data-dir', dir, '--config', renamed, '--apply']);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /"site-3" would print numbers such as "X-\d{4}-000001" that series "site-2" of this store already printed \(up to number 3/);
  });

  it('an instance that loses the numbering to another starting at once checks again, and both numberings are kept', async () => {
    const dir = await ledger(1, bySite('site-1', 'INV-{site}'));
    const other = { prefix: 'Y', year: true, padding: 6, separator: '-', timeZone: 'UTC' };
    let raced = false;
    // Another instance (another configuration, nothing printed under it yet) saves its numbering first.
    const racing = (store: SequenceStore): SequenceStore =>
      new Proxy(store, {
        get(target, prop) {
          if (prop === 'saveIdentity') {
            return async (next: StoreIdentity, expected: StoreIdentity | null) => {
              if (!raced && expected) {
                raced = true;
                const theirs = { ...expected.numbering, formats: { ...expected.numbering.formats, 'site-9': { ...other, prefix: 'Y' } } };
                await target.saveIdentity({ ...expected, numbering: theirs }, expected);
              }
              return target.saveIdentity(next, expected);
            };
          }
          const value: unknown = Reflect.get(target, prop, target);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    const mine = { sequence: { ...bySite('site-1', 'INV-{site}').sequence, sites: [...oneSite('site-1'), ...oneSite('site-2')] } };
    const s = await startTestServer(mine, dir, { wrapStore: racing });
    assert.ok(raced);
    await s.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(join(dir, SQLITE_FILE), { readonly: true });
    const identity = JSON.parse((db.prepare("SELECT value FROM meta WHERE key = 'identity'").get() as { value: string }).value) as StoreIdentity;
    db.close();
    assert.equal(identity.numbering.formats['site-9'], undefined, 'this instance checked again and saved its own numbering');
    assert.ok(identity.formerNumbering?.some((p) => p.formats['site-9']?.prefix === 'Y'), 'the other numbering is kept in the history');
  });

  it('takes a renamed site when the site is part of every printed number', async () => {
    const dir = await ledger(3, bySite('site-1', 'INV-{site}'));
    const s = await startTestServer(bySite('site-9', 'INV-{site}'), dir);
    const r = await http<{ formatted: string[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...body, siteId: 'site-9' });
    assert.match(r.body.formatted[0] ?? '', /^INV-site-9-\d{4}-000001$/);
    await s.close();
  });
});

describe('seqd change-numbering: the audited way to a new numbering (issue 13, item 2)', () => {
  const run = changeNumbering;

  it('shows, then applies: the old series closed, the change recorded, the new series start at 1', async () => {
    const dir = await ledger(8);
    const split = join(dir, 'split.yml');
    writeFileSync(split, 'sequence:\n  series:\n    split-by: [site]\n');
    const dry = run(['--data-dir', dir, '--config', split]);
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /sequence\.series\.split-by: \[\] → \[site\]/);
    assert.match(dry.out, /close global \(high-water mark 8/);
    assert.match(dry.out, /nothing written/);
    // Nothing was written: the old configuration still continues at 9.
    const old = await startTestServer({}, dir);
    assert.deepEqual((await http<{ numbers: number[] }>(old.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [9]);
    await old.close();

    const applied = run(['--data-dir', dir, '--config', split, '--apply']);
    assert.equal(applied.code, 0, applied.out);
    assert.match(applied.out, /closed global/);
    const s = await startTestServer({ sequence: { series: { 'split-by': ['site'] } } }, dir);
    const next = await http<{ series: string; numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', body);
    assert.deepEqual([next.body.series, next.body.numbers], ['site-1', [1]]);
    const closed = await http<{ events: { type: string; reason: string }[] }>(s.url, 'GET', '/api/v1/audit?series=global&event=close');
    assert.match(closed.body.events[0]?.reason ?? '', /numbering changed: sequence\.series\.split-by: \[\] → \[site\]; new series start at 1/);
    const recorded = await http<{ events: { type: string; reason: string }[] }>(s.url, 'GET', '/api/v1/audit?series=_settings&event=numbering');
    assert.equal(recorded.body.events.length, 1);
    const verify = await http<{ valid: boolean }>(s.url, 'GET', '/api/v1/audit/verify?series=global');
    assert.equal(verify.body.valid, true);
    // The old series is closed: a release there is refused, nothing is issued from it again.
    await s.close();
    await assert.rejects(startTestServer({}, dir), (e: unknown) => e instanceof ConfigError && e.key === 'sequence.series.split-by');
  });

  it('refuses a new series that would print the numbers a closed one printed, until the site is printed too', async () => {
    const format = { prefix: 'INV', padding: 6, year: true };
    const dir = await ledger(3, { sequence: { format } });
    const yml = (prefix: string) => {
      const file = join(dir, `split-${prefix.length}.yml`);
      writeFileSync(
        file,
        `sequence:\n  format: { prefix: "${prefix}", padding: 6, year: true }\n  sites: [{ id: site-1, partitions: [partition-a] }]\n  series:\n    split-by: [site]\n`,
      );
      return file;
    };
    const same = run(['--data-dir', dir, '--config', yml('INV'), '--apply']);
    assert.equal(same.code, 2, same.out);
    assert.match(same.out, /"site-1" would print numbers such as "INV-\d{4}-000001" that series "global" of this store already printed/);
    const old = await startTestServer({ sequence: { format } }, dir);
    assert.deepEqual((await http<{ numbers: number[] }>(old.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [4], 'nothing was closed');
    await old.close();

    const withSite = run(['--data-dir', dir, '--config', yml('INV-{site}'), '--apply']);
    assert.equal(withSite.code, 0, withSite.out);
    const s = await startTestServer({ sequence: { format: { ...format, prefix: 'INV-{site}' }, sites: [{ id: 'site-1', partitions: ['partition-a'] }], series: { 'split-by': ['site'] } } }, dir);
    const r = await http<{ formatted: string[] }>(s.url, 'POST', '/api/v1/sequence/next', body);
    assert.match(r.body.formatted[0] ?? '', /^INV-site-1-\d{4}-000001$/);
    await s.close();

    // The store remembers what global printed under the first numbering: going back to INV for site-1 is refused.
    const back = run(['--data-dir', dir, '--config', yml('INV'), '--apply']);
    assert.equal(back.code, 2, back.out);
    assert.match(back.out, /"site-1" would print numbers such as "INV-\d{4}-000001" that series "global" of this store already printed/);
  });
});
