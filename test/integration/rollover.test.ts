import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface Next {
  numbers: number[];
  series: string;
  formatted?: string[];
}
interface Report {
  name: string;
  status: string;
  final: boolean;
  highWaterMark: number;
  openGaps: number;
  voidGaps: number;
  closeEvent: { reason: string } | null;
}

const holder = { siteId: 'site-1', partitionId: 'partition-a' };
// 23:59:59 on 31 December 2026 in Paris is 22:59:59 UTC.
const BEFORE_MIDNIGHT = Date.parse('2026-12-31T22:59:59.000Z');
const MIDNIGHT = Date.parse('2026-12-31T23:00:00.000Z');

/** A yearly rollover at midnight in Paris, driven by a clock the test moves. */
describe('yearly rollover (injected clock)', () => {
  let clock = BEFORE_MIDNIGHT;
  let s: TestServer;
  const next = () => http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });

  before(async () => {
    s = await startTestServer(
      {
        sequence: {
          core: { 'global-counter-start': 1 },
          format: { prefix: 'INV', year: true, padding: 6, 'time-zone': 'Europe/Paris' },
          series: { rollover: { enabled: true, 'time-zone': 'Europe/Paris', 'close-after-seconds': 60 } },
        },
      },
      undefined,
      { now: () => clock },
    );
  });
  after(() => s?.dispose());

  it('numbers the last second of the year from its series', async () => {
    const got = [await next(), await next(), await next(), await next()];
    assert.deepEqual(got.map((r) => [r.body.series, r.body.numbers[0]]), [
      ['global@2026', 1],
      ['global@2026', 2],
      ['global@2026', 3],
      ['global@2026', 4],
    ]);
    assert.deepEqual(got[0]?.body.formatted, ['INV-2026-000001']);
    const rel = await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 2, ...holder, reason: 'cancelled' });
    assert.equal(rel.status, 200);
    const keyed = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'off-cycle', count: 2 }, { 'idempotency-key': 'eve-1' });
    assert.deepEqual([keyed.body.series, keyed.body.numbers], ['global@2026', [2, 5]], 'refills 2, then the counter');
  });

  it('answers a retry sent after midnight with the numbers of the year it was committed in', async () => {
    clock = MIDNIGHT + 500;
    const retry = await http<Next & { replayed: boolean }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'off-cycle', count: 2 }, { 'idempotency-key': 'eve-1' });
    assert.deepEqual([retry.status, retry.body.series, retry.body.numbers, retry.body.replayed], [200, 'global@2026', [2, 5], true]);
    assert.deepEqual(retry.body.formatted, ['INV-2026-000002', 'INV-2026-000005']);
    const other = await http<{ error: { code: string } }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 2 }, { 'idempotency-key': 'eve-1' });
    assert.deepEqual([other.status, other.body.error.code], [422, 'IDEMPOTENCY_KEY_REUSED']);
    const list = await http<{ series: { name: string; highWaterMark: number }[] }>(s.url, 'GET', '/api/v1/sequence/series');
    const in2027 = list.body.series.find((x) => x.name === 'global@2027');
    assert.ok(!in2027 || in2027.highWaterMark === 0, 'the retries took nothing in 2027');
  });

  it('starts a new series at the start number at midnight in the time zone', async () => {
    clock = MIDNIGHT;
    const r = await next();
    assert.deepEqual([r.body.series, r.body.numbers, r.body.formatted], ['global@2027', [1], ['INV-2027-000001']]);
    // The open gap of 2026 is not refilled by 2027's requests.
    const r2 = await next();
    assert.deepEqual(r2.body.numbers, [2]);
  });

  it('keeps the old series open during the grace time: late confirms and releases name it', async () => {
    const c = await http(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 1, ...holder, series: 'global@2026' });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const rel = await http<{ status: string }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 3, ...holder, series: 'global@2026', reason: 'cancelled' });
    assert.deepEqual([rel.status, rel.body.status], [200, 'open']);
    assert.deepEqual(await s.rollover?.tick(), [], 'nothing closes before the grace time');
  });

  it('a release or confirm naming no series is refused when both years hold the number, and finds the one that does', async () => {
    // 2026 holds 1..5, 2027 holds 1..2: number 2 could be either invoice (issue 13, item 8).
    const ambiguous = await http<{ error: { code: string; allowed: string[] } }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 2, ...holder, reason: 'cancelled' });
    assert.deepEqual([ambiguous.status, ambiguous.body.error.code, ambiguous.body.error.allowed], [409, 'SERIES_AMBIGUOUS', ['global@2026', 'global@2027']]);
    const c = await http<{ series: string }>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 5, ...holder });
    assert.deepEqual([c.status, c.body.series], [200, 'global@2026'], 'only 2026 has issued 5');
  });

  it('closes the ended period after the grace time: open gaps void, final report, exactly once', async () => {
    clock = MIDNIGHT + 61_000;
    assert.deepEqual(await s.rollover?.tick(), ['global@2026']);
    assert.deepEqual(await s.rollover?.tick(), [], 'a closed series is not closed again');
    const report = await http<Report>(s.url, 'GET', '/api/v1/sequence/series/global@2026');
    assert.equal(report.status, 200, JSON.stringify(report.body));
    assert.equal(report.body.status, 'closed');
    assert.equal(report.body.final, true);
    assert.equal(report.body.highWaterMark, 5);
    assert.equal(report.body.openGaps, 0);
    assert.equal(report.body.voidGaps, 1);
    assert.equal(report.body.closeEvent?.reason, 'period 2026 ended');
    const gaps = await http<{ gaps: { sequenceNumber: number; status: string; reason: string }[] }>(s.url, 'GET', '/api/v1/sequence/gaps?series=global@2026');
    assert.deepEqual(gaps.body.gaps.map((g) => [g.sequenceNumber, g.status]), [[3, 'void']], '2 was refilled before midnight');
    assert.match(gaps.body.gaps[0]?.reason ?? '', /period 2026 ended; released: cancelled/);
    const current = await http<Report>(s.url, 'GET', '/api/v1/sequence/series/global@2027');
    assert.equal(current.body.status, 'open');
  });

  it('a closed series takes no more numbers; a late release there is void at once', async () => {
    clock = BEFORE_MIDNIGHT; // an instance whose clock is behind: the new period has started
    const late = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    assert.deepEqual([late.status, late.body.series], [200, 'global@2027']);
    clock = MIDNIGHT - 120_000; // behind by more than the skew seqd bridges: the old year is closed
    const closed = await http<{ error: { code: string } }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    assert.deepEqual([closed.status, closed.body.error.code], [409, 'SERIES_CLOSED']);
    const named = await http<{ error: { code: string } }>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 99, ...holder, series: 'global@2026' });
    assert.equal(named.status, 404, 'never issued in the closed series');
    clock = MIDNIGHT + 120_000;
    const rel = await http<{ status: string }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 4, ...holder, series: 'global@2026', reason: 'cancelled' });
    assert.deepEqual([rel.status, rel.body.status], [200, 'void']);
    const confirmed = await http<{ error: { code: string } }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 1, ...holder, series: 'global@2026', reason: 'x' });
    assert.equal(confirmed.body.error.code, 'NUMBER_CONFIRMED');
  });

  it('verifies and exports per period', async () => {
    const v = await http<{ valid: boolean; reports: { series: string; valid: boolean }[] }>(s.url, 'GET', '/api/v1/audit/verify?period=2026');
    assert.equal(v.body.valid, true, JSON.stringify(v.body));
    assert.deepEqual(v.body.reports.map((r) => r.series), ['global@2026']);
    const all = await http<{ valid: boolean; reports: { series: string }[] }>(s.url, 'GET', '/api/v1/audit/verify');
    assert.deepEqual(all.body.reports.map((r) => r.series), ['_settings', 'global@2026', 'global@2027']);
    const none = await http<{ error: { field: string } }>(s.url, 'GET', '/api/v1/audit/verify?period=1999');
    assert.deepEqual([none.status, none.body.error.field], [400, 'period']);
    const ndjson = await (await fetch(`${s.url}/api/v1/audit/export?format=ndjson&series=global@2026`)).text();
    const types = ndjson.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
    assert.equal(types.filter((t) => t === 'close').length, 1);
    assert.equal(types[types.length - 1], 'void', 'the late release is audited after the close');
  });
});

/**
 * Two instances on one store whose clocks straddle midnight (A 100 ms ahead, B 100 ms behind):
 * A commits key K in the new year and its reply is lost; the retry reaches B, still in the old
 * year. It must get A's numbers, not take new ones in the old year (issue 12, item 3a).
 */
describe('idempotency across a period change with skewed instance clocks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-skew-'));
  const rollover = { sequence: { series: { rollover: { enabled: true, 'time-zone': 'Europe/Paris', 'close-after-seconds': 60 } } } };
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    // A starts later, in the first test: starting, it creates the new year's series.
    b = await startTestServer(rollover, dir, { now: () => MIDNIGHT - 100 });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a retry is answered from the period its key was committed in, on either instance', async () => {
    const body = { ...holder, invoiceType: 'on-cycle', count: 2 };
    // A key first committed in the old year (the new one not started yet), retried in the new one.
    const old = await http<Next>(b.url, 'POST', '/api/v1/sequence/next', body, { 'idempotency-key': 'skew-2' });
    assert.equal(old.body.series, 'global@2026');
    a = await startTestServer(rollover, dir, { now: () => MIDNIGHT + 100 });
    const again = await http<Next>(a.url, 'POST', '/api/v1/sequence/next', body, { 'idempotency-key': 'skew-2' });
    assert.deepEqual([again.body.series, again.body.numbers], ['global@2026', old.body.numbers]);
    // A commits K in the new year and its reply is lost; the retry reaches B, still in the old one.
    const first = await http<Next>(a.url, 'POST', '/api/v1/sequence/next', body, { 'idempotency-key': 'skew-1' });
    assert.equal(first.body.series, 'global@2027');
    const retry = await http<Next & { replayed: boolean }>(b.url, 'POST', '/api/v1/sequence/next', body, { 'idempotency-key': 'skew-1' });
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.deepEqual([retry.body.series, retry.body.numbers, retry.body.replayed], ['global@2027', first.body.numbers, true]);
  });

  it('once the new period has started on one instance, the instance behind numbers from it too (real-time order across periods)', async () => {
    const late = await http<Next>(b.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    assert.equal(late.body.series, 'global@2027', "b's clock says 2026, but a request sent after a 2027 answer must not get a 2026 number");
    const series = await http<{ series: { name: string; highWaterMark: number }[] }>(a.url, 'GET', '/api/v1/sequence/series');
    assert.deepEqual(series.body.series.map((x) => [x.name, x.highWaterMark]), [['global@2026', 2], ['global@2027', 3]]);
  });
});

/** Monthly periods: a year given to verify names its months. */
describe('monthly rollover: verify by year', () => {
  let clock = Date.parse('2026-11-30T12:00:00.000Z');
  let s: TestServer;
  const next = () => http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });

  before(async () => {
    s = await startTestServer(
      {
        sequence: {
          format: { prefix: 'INV-{yyyy}{mm}', year: false, padding: 6, 'time-zone': 'UTC' },
          series: { rollover: { enabled: true, period: 'monthly', 'time-zone': 'UTC', 'close-after-seconds': 60 } },
        },
      },
      undefined,
      { now: () => clock },
    );
  });
  after(() => s?.dispose());

  it('period=2026 verifies every month of 2026, period=2026-11 one of them', async () => {
    assert.equal((await next()).body.series, 'global@2026-11');
    clock = Date.parse('2026-12-01T12:00:00.000Z');
    assert.equal((await next()).body.series, 'global@2026-12');
    const year = await http<{ valid: boolean; reports: { series: string }[] }>(s.url, 'GET', '/api/v1/audit/verify?period=2026');
    assert.equal(year.status, 200, JSON.stringify(year.body));
    assert.deepEqual(year.body.reports.map((r) => r.series), ['global@2026-11', 'global@2026-12']);
    const month = await http<{ reports: { series: string }[] }>(s.url, 'GET', '/api/v1/audit/verify?period=2026-11');
    assert.deepEqual(month.body.reports.map((r) => r.series), ['global@2026-11']);
  });
});
