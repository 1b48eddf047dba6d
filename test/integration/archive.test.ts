import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { StoreIdentityError } from '../../src/domain/errors/index.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { MARKER_FILE } from '../../src/storage/store-marker.js';
import { browserMissing, openDesktopPage } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

const holder = { siteId: 'site-1', partitionId: 'partition-a' };
const OLD = 'global@2026-10';
const CURRENT = 'global@2026-11';

interface SeriesReport {
  status: string;
  highWaterMark: number;
  archive: { file: string; sha256: string; headSeq: number; headHash: string; archivedAt: string } | null;
  closeEvent: { reason: string } | null;
  totals: unknown[];
}

/** The lines of a gzip'd NDJSON file, edited by `edit`, written back gzip'd (with or without a new manifest checksum). */
function tamper(src: string, dest: string, edit: (lines: string[]) => void, reseal: boolean): void {
  const lines = gunzipSync(readFileSync(src)).toString().trimEnd().split('\n');
  edit(lines);
  if (reseal) {
    const manifest = JSON.parse(lines.pop() as string) as { sha256: string };
    manifest.sha256 = createHash('sha256').update(lines.map((l) => `${l}\n`).join('')).digest('hex');
    lines.push(JSON.stringify(manifest));
  }
  writeFileSync(dest, gzipSync(`${lines.join('\n')}\n`));
}

/** A month closed by the rollover is archived, removed, checked offline; tampering is caught. */
describe('seqd archive', () => {
  let clock = Date.parse('2026-10-30T12:00:00.000Z');
  let dir: string;
  let data: string;
  let s: TestServer;
  let file: string;
  let head: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seqd-archive-'));
    data = join(dir, 'store');
    s = await startTestServer(
      { sequence: { series: { rollover: { enabled: true, period: 'monthly', 'time-zone': 'UTC', 'close-after-seconds': 60 } } } },
      data,
      { now: () => clock },
    );
  });
  after(async () => {
    await s?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to archive an open series, and writes no file', async () => {
    const first = await http<{ series: string; numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 5 });
    assert.deepEqual([first.body.series, first.body.numbers], [OLD, [1, 2, 3, 4, 5]]);
    const out = join(dir, 'open.seqd-archive');
    const r = await runCli(['archive', OLD, '--out', out, '--reason', 'too early', '--url', s.url]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /is open: close it/);
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('partial')), []);
  });

  it('archives a closed month, removes it from the store, and every read says where it went', async () => {
    await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 2, ...holder, reason: 'cancelled' });
    await http(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 4, ...holder });
    clock = Date.parse('2026-11-01T00:05:00.000Z');
    await s.rollover?.tick();
    const next = await http<{ series: string; numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    assert.deepEqual([next.body.series, next.body.numbers], [CURRENT, [1]]);
    const closed = await http<SeriesReport>(s.url, 'GET', `/api/v1/sequence/series/${OLD}`);
    assert.equal(closed.body.status, 'closed');
    const savedBefore = await http<{ head: { seq: number; hash: string } }>(s.url, 'GET', `/api/v1/audit/verify?series=${OLD}`);
    const early = await runCli(['archive', OLD, '--out', join(dir, 'early.seqd-archive'), '--reason', 'too early', '--url', s.url]);
    assert.equal(early.code, 4, early.stderr);
    assert.match(early.stderr, /can be archived from 2026-11-02T00:05:00\.000Z, once the idempotency window is over/);
    // A removal that names no archive this instance wrote is refused, whatever it claims.
    const h = savedBefore.body.head;
    const forged = await http<{ error: { code: string; message: string } }>(s.url, 'POST', '/api/v1/admin/archive/remove', { series: OLD, file: '/nowhere', sha256: 'e'.repeat(64), head: `${h.seq}:${h.hash}`, reason: 'no archive' });
    assert.equal(forged.status, 400);
    clock = Date.parse('2026-11-02T00:06:00.000Z');
    const forgedLater = await http<{ error: { code: string; message: string } }>(s.url, 'POST', '/api/v1/admin/archive/remove', { series: OLD, file: '/nowhere', sha256: 'e'.repeat(64), head: `${h.seq}:${h.hash}`, reason: 'no archive' });
    assert.equal(forgedLater.status, 400);
    assert.match(forgedLater.body.error.message, /streamed no archive of series .* nothing was removed/);
    assert.equal((await http<SeriesReport>(s.url, 'GET', `/api/v1/sequence/series/${OLD}`)).body.status, 'closed');

    file = join(dir, `${OLD}.seqd-archive`);
    const r = await runCli(['archive', OLD, '--out', file, '--reason', 'retention: October archived', '--url', s.url]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const m = /head (\d+):([0-9a-f]{64}), sha256 ([0-9a-f]{64})/.exec(r.stdout);
    assert.ok(m, r.stdout);
    head = `${m[1]}:${m[2]}`;
    assert.match(r.stdout, /removed from the store: \d+ records/);

    const report = await http<SeriesReport>(s.url, 'GET', `/api/v1/sequence/series/${OLD}`);
    assert.equal(report.body.status, 'archived');
    assert.deepEqual([report.body.archive?.file, report.body.archive?.sha256, `${report.body.archive?.headSeq}:${report.body.archive?.headHash}`], [file, m[3], head]);
    assert.equal(report.body.highWaterMark, 5, 'the final report stays');
    assert.ok(report.body.totals.length > 0);
    assert.match(report.body.closeEvent?.reason ?? '', /archived to .* retention: October archived/);

    const release = await http<{ error: { code: string; message: string } }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 3, ...holder, reason: 'late', series: OLD });
    assert.deepEqual([release.status, release.body.error.code], [410, 'SERIES_ARCHIVED']);
    assert.ok(release.body.error.message.includes(file), release.body.error.message);
    const gaps = await http<{ error: { code: string } }>(s.url, 'GET', `/api/v1/sequence/gaps?series=${OLD}`);
    assert.deepEqual([gaps.status, gaps.body.error.code], [410, 'SERIES_ARCHIVED']);

    const audit = await http<{ events: { event: string; seq: number; prevHash: string; actor: string | null }[] }>(s.url, 'GET', `/api/v1/audit?series=${OLD}&order=asc`);
    assert.deepEqual(audit.body.events.map((e) => [e.event, `${e.seq - 1}:${e.prevHash}`]), [['archive', head]], 'the archive event links to the archive');
    const verify = await http<{ valid: boolean; archive?: { file: string }; head: { seq: number } }>(s.url, 'GET', `/api/v1/audit/verify?series=${OLD}`);
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
    assert.equal(verify.body.archive?.file, file);
    const other = await http<{ valid: boolean }>(s.url, 'GET', `/api/v1/audit/verify?series=${CURRENT}`);
    assert.equal(other.body.valid, true);

    const again = await runCli(['archive', OLD, '--out', join(dir, 'again.seqd-archive'), '--reason', 'twice', '--url', s.url]);
    assert.equal(again.code, 4);
    assert.match(again.stderr, /SERIES_ARCHIVED/);
    // The same command again (after an interruption) goes on with the archive it wrote: nothing left to remove.
    const resumed = await runCli(['archive', OLD, '--out', file, '--reason', 'retention: October archived', '--url', s.url]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /archive found and checked: .*\n.*\n?removed from the store: 0 records/s);

    // A head saved before the archive: its own head checks against the mark, earlier ones only in the file.
    const atHead = await http<{ savedHead: { valid: boolean } }>(s.url, 'GET', `/api/v1/audit/verify?series=${OLD}&head=${head}`);
    assert.equal(atHead.body.savedHead.valid, true);
    const older = await http<{ savedHead: { valid: boolean; problem: string } }>(s.url, 'GET', `/api/v1/audit/verify?series=${OLD}&head=${h.seq - 1}:${'0'.repeat(64)}`);
    assert.match(older.body.savedHead.problem, /not checked here: event \d+ is in the archive/);
    const exported = await fetch(`${s.url}/api/v1/audit/export?series=${OLD}`);
    assert.equal(exported.headers.get('x-seqd-total-events'), '1');
    assert.equal((await exported.text()).trim().split('\n').length, 1);
  });

  it('the dashboard says where an archived series went (Chromium)', { skip: browserMissing() ?? false }, async () => {
    const { browser, page, errors } = await openDesktopPage();
    try {
      await page.goto(`${s.url}/dashboard`);
      await page.waitForSelector('#conn.badge-ok', { timeout: 15_000 });
      await page.selectOption('#series-select', OLD);
      await page.waitForFunction((f) => document.querySelector('#series-meta')?.textContent?.includes(`archived to ${f}`), file, { timeout: 10_000 });
      assert.equal(await page.locator('#c-hwm').textContent(), '5', 'the final figures stay');
      await page.waitForFunction(() => document.querySelector('#gap-summary')?.textContent?.includes('SERIES_ARCHIVED') || document.querySelector('#gap-summary')?.textContent?.includes('was archived to'), undefined, { timeout: 10_000 });
      assert.equal(await page.locator('#gap-table tbody tr').count(), 0);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });

  it('checks the archive offline: valid as written; edited, resealed, cut short or a backup: invalid', async () => {
    const ok = await runCli(['archive', 'verify', file]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`series ${OLD}: \\d+ events, high-water mark 5, head ${head}`));

    const edited = join(dir, 'edited.seqd-archive');
    const holderOf = (lines: string[]) => {
      const i = lines.findIndex((l) => l.includes('"t":"events"'));
      lines[i] = (lines[i] as string).replace('"site-1"', '"site-2"');
    };
    // A line no hash covers (the header): only the manifest's checksum can tell.
    tamper(file, edited, (lines) => (lines[0] = (lines[0] as string).replace('"requestWindowMs":0', '"requestWindowMs":1')), false);
    const r1 = await runCli(['archive', 'verify', edited]);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /INVALID: .*checksum does not match/);

    // An event edited and the checksum made to match: the hash chain tells.
    tamper(file, edited, holderOf, true);
    const r2 = await runCli(['archive', 'verify', edited]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /INVALID: .*hash does not match the event content/);

    const cut = join(dir, 'cut.seqd-archive');
    writeFileSync(cut, readFileSync(file).subarray(0, Math.floor(readFileSync(file).length / 2)));
    const r3 = await runCli(['archive', 'verify', cut]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /INVALID: .*(truncated|damaged|incomplete)/);

    const backup = join(dir, 'store.seqd-backup');
    assert.equal((await runCli(['backup', '--out', backup, '--url', s.url])).code, 0);
    const r4 = await runCli(['archive', 'verify', backup]);
    assert.equal(r4.code, 1);
    assert.match(r4.stderr, /not an archive/);
  });

  it('a backup of a store with an archived series restores and verifies; an archive is never restored', async () => {
    const backup = join(dir, 'after-archive.seqd-backup');
    const b = await runCli(['backup', '--out', backup, '--url', s.url]);
    assert.equal(b.code, 0, b.stderr);
    const target = join(dir, 'restored');
    const r = await runCli(['restore', backup, '--data-dir', target]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`${OLD}: valid`));
    const store = new SqliteStore({ dataDir: target });
    try {
      const state = await store.loadSeries(OLD, 1);
      assert.equal(state.archived?.file, file);
      assert.deepEqual((await store.readEvents(OLD, 0, 100)).map((e) => e.type), ['archive']);
    } finally {
      await store.close();
    }
    // Loaded from scratch (its number records gone), the series still answers where it went.
    const restored = await startTestServer({ sequence: { series: { rollover: { enabled: true, period: 'monthly', 'time-zone': 'UTC', 'close-after-seconds': 60 } } } }, target, { now: () => clock });
    try {
      await http(restored.url, 'POST', '/api/v1/admin/maintenance', { enabled: false, reason: 'restore checked' });
      const release = await http<{ error: { code: string } }>(restored.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 3, ...holder, reason: 'late', series: OLD });
      assert.deepEqual([release.status, release.body.error.code], [410, 'SERIES_ARCHIVED']);
      const verify = await http<{ valid: boolean }>(restored.url, 'GET', '/api/v1/audit/verify');
      assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
    } finally {
      await restored.dispose();
    }
    const intoEmpty = await runCli(['restore', file, '--data-dir', join(dir, 'never')]);
    assert.equal(intoEmpty.code, 1);
    assert.match(intoEmpty.stderr, /an archive of series .*, not a backup/);
  });
});

/**
 * A data directory whose marker saw a head of a series that was archived afterwards (an instance
 * stopped before the archive, or one that crashed within the marker's 10 s): the head's event
 * left the store with the archive, and the store is still the same ledger.
 */
describe('seqd restarts after an archive removed the head its marker saw', () => {
  const monthly = { sequence: { series: { rollover: { enabled: true, period: 'monthly', 'time-zone': 'UTC', 'close-after-seconds': 60 } } } };
  let clock = Date.parse('2026-10-30T12:00:00.000Z');
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** Numbers in October, the month closed and archived; answers the data directory and the marker from before the archive. */
  async function archivedAfterMarker(): Promise<{ data: string; before: string; archiveHead: { seq: number; hash: string } }> {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-archive-marker-'));
    dirs.push(dir);
    const data = join(dir, 'store');
    clock = Date.parse('2026-10-30T12:00:00.000Z');
    const a = await startTestServer(monthly, data, { now: () => clock });
    await http(a.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 5 });
    await a.close();
    const before = readFileSync(join(data, MARKER_FILE), 'utf8');
    assert.ok((JSON.parse(before) as { heads: Record<string, unknown> }).heads[OLD], 'the marker saw the October head');
    const b = await startTestServer(monthly, data, { now: () => clock });
    // The closer closes the series this instance numbers.
    await http(b.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    clock = Date.parse('2026-11-01T00:05:00.000Z');
    await b.rollover?.tick();
    clock = Date.parse('2026-11-02T00:06:00.000Z');
    const out = join(dir, `${OLD}.seqd-archive`);
    const r = await runCli(['archive', OLD, '--out', out, '--reason', 'retention', '--url', b.url]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const m = /head (\d+):([0-9a-f]{64})/.exec(r.stdout);
    assert.ok(m, r.stdout);
    await b.close();
    return { data, before, archiveHead: { seq: Number(m[1]), hash: m[2] ?? '' } };
  }

  it('starts with a marker whose head is in the archived range, and numbers on', async () => {
    const { data, before } = await archivedAfterMarker();
    writeFileSync(join(data, MARKER_FILE), before);
    const s = await startTestServer(monthly, data, { now: () => clock });
    try {
      const next = await http<{ series: string; numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
      assert.deepEqual([next.body.series, next.body.numbers], [CURRENT, [1]]);
    } finally {
      await s.close();
    }
  });

  it('still refuses a marker whose head at the last archived event has another hash, or lies past the archive event', async () => {
    const { data, before, archiveHead } = await archivedAfterMarker();
    const marker = JSON.parse(before) as { heads: Record<string, { seq: number; hash: string }> };
    marker.heads[OLD] = { seq: archiveHead.seq, hash: 'f'.repeat(64) };
    writeFileSync(join(data, MARKER_FILE), JSON.stringify(marker));
    await assert.rejects(startTestServer(monthly, data, { now: () => clock }), (e: unknown) => e instanceof StoreIdentityError && /older than/.test(e.message));
    // The archive event follows the archived head: a marker that saw beyond it saw events that are gone.
    marker.heads[OLD] = { seq: archiveHead.seq + 2, hash: archiveHead.hash };
    writeFileSync(join(data, MARKER_FILE), JSON.stringify(marker));
    await assert.rejects(startTestServer(monthly, data, { now: () => clock }), (e: unknown) => e instanceof StoreIdentityError && /older than/.test(e.message));
    marker.heads[OLD] = archiveHead;
    writeFileSync(join(data, MARKER_FILE), JSON.stringify(marker));
    await (await startTestServer(monthly, data, { now: () => clock })).close();
  });
});
