import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface Summary {
  name: string;
  status: 'open' | 'closed';
  highWaterMark: number;
  nextNumber: number | null;
}

const holder = { siteId: 'site-1', partitionId: 'partition-a' };
const MIDNIGHT = Date.parse('2027-01-01T00:00:00.000Z');

/**
 * A server on yearly series whose clock the caller holds: 3 numbers in global@2026, one in
 * global@2027 after midnight, and global@2026 closed by the rollover.
 */
async function startRolledOver(clock: () => number, setClock: (t: number) => void): Promise<TestServer> {
  setClock(MIDNIGHT - 60_000);
  const s = await startTestServer({ sequence: { series: { rollover: { enabled: true, 'time-zone': 'UTC', 'close-after-seconds': 60 } } } }, undefined, { now: clock });
  await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 3 });
  setClock(MIDNIGHT + 61_000);
  await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
  assert.deepEqual(await s.rollover?.tick(), ['global@2026']);
  return s;
}

// Issue 13 (minor): a series closed by the rollover still showed the `nextNumber` it will never give.
describe('a closed series shows no next number', () => {
  let clock = MIDNIGHT - 60_000;
  let s: TestServer;
  before(async () => {
    s = await startRolledOver(() => clock, (t) => (clock = t));
  });
  after(async () => s.dispose());

  it('in the series list, the stats and the series report: null when closed, HWM + 1 when open', async () => {
    const list = await http<{ series: Summary[] }>(s.url, 'GET', '/api/v1/sequence/series');
    const stats = await http<{ series: Summary[] }>(s.url, 'GET', '/api/v1/sequence/stats');
    for (const series of [list.body.series, stats.body.series]) {
      const byName = new Map(series.map((x) => [x.name, x]));
      assert.deepEqual(byName.get('global@2026'), { ...byName.get('global@2026'), status: 'closed', highWaterMark: 3, nextNumber: null });
      assert.deepEqual(byName.get('global@2027'), { ...byName.get('global@2027'), status: 'open', highWaterMark: 1, nextNumber: 2 });
    }
    const report = await http<Summary>(s.url, 'GET', '/api/v1/sequence/series/global@2026');
    assert.deepEqual([report.body.status, report.body.nextNumber], ['closed', null]);
  });

  it('lists only the series in one state, paged by name; the stats name them and keep the totals of all', async () => {
    type Page = { series: Summary[]; count: number; truncated: boolean; nextCursor: string | null };
    const names = (p: Page) => p.series.map((x) => x.name);
    const open = await http<Page>(s.url, 'GET', '/api/v1/sequence/series?status=open');
    assert.deepEqual([names(open.body), open.body.count, open.body.truncated, open.body.nextCursor], [['global@2027'], 1, false, null]);
    const closed = await http<Page>(s.url, 'GET', '/api/v1/sequence/series?status=closed');
    assert.deepEqual(names(closed.body), ['global@2026']);
    const first = await http<Page>(s.url, 'GET', '/api/v1/sequence/series?limit=1');
    assert.deepEqual([names(first.body), first.body.count, first.body.truncated, first.body.nextCursor], [['global@2026'], 2, true, 'global@2026']);
    const second = await http<Page>(s.url, 'GET', `/api/v1/sequence/series?limit=1&cursor=${encodeURIComponent(first.body.nextCursor ?? '')}`);
    assert.deepEqual([names(second.body), second.body.truncated, second.body.nextCursor], [['global@2027'], false, null]);
    const stats = await http<{ series: Summary[]; totals: { issued: number } }>(s.url, 'GET', '/api/v1/sequence/stats?status=open');
    assert.deepEqual(stats.body.series.map((x) => x.name), ['global@2027']);
    assert.equal(stats.body.totals.issued, 4, 'the totals count the closed series too');
    for (const bad of ['series?status=gone', 'series?limit=0', 'series?cursor=a%20b', 'series?page=2', 'stats?status=old']) {
      const r = await http<{ error: { code: string; field?: string } }>(s.url, 'GET', `/api/v1/sequence/${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.error.code, 'VALIDATION_ERROR', bad);
    }
  });
});

/** The first dashboard snapshot the stream sends. */
async function firstSnapshot(url: string): Promise<{ series: { name: string }[]; earlierSeries: { count: number; generation: string }; totals: unknown[] }> {
  const res = await fetch(`${url}/api/v1/dashboard/stream`);
  const reader = res.body?.getReader();
  assert.ok(reader);
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const m = /event: snapshot\ndata: ([^\n]*)\n/.exec(text);
      if (m?.[1]) return JSON.parse(m[1]) as Awaited<ReturnType<typeof firstSnapshot>>;
      const { value, done } = await reader.read();
      assert.equal(done, false, `the stream ended before a snapshot: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel();
  }
}

const sample = (text: string, name: string, series: string) => new RegExp(`^${name}\\{series="${series.replace(/[@.]/g, '\\$&')}"\\} (\\S+)$`, 'm').exec(text)?.[1];

// Issue 18 (many series): the dashboard's snapshot (every 500 ms) and the per-series gauges of a
// scrape cover live series only (open, or closed in the last 35 days), not years of history.
describe('series closed before the live window: out of snapshots and gauges, still in stats and the series list', () => {
  let clock = MIDNIGHT - 60_000;
  let s: TestServer;
  before(async () => {
    s = await startRolledOver(() => clock, (t) => (clock = t));
  });
  after(async () => s.dispose());

  it('a series closed 34 days ago is live; at 36 days it leaves the snapshot and the gauges, and is counted', async () => {
    clock = MIDNIGHT + 34 * 86_400_000;
    let snap = await firstSnapshot(s.url);
    assert.deepEqual(snap.series.map((x) => x.name).sort(), ['global@2026', 'global@2027']);
    assert.equal(snap.earlierSeries.count, 0);
    let metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.equal(sample(metrics, 'seqd_series_high_water_mark', 'global@2026'), '3');
    assert.equal(sample(metrics, 'seqd_series_closed', 'global@2026'), '1');

    clock = MIDNIGHT + 36 * 86_400_000;
    snap = await firstSnapshot(s.url);
    assert.deepEqual(snap.series.map((x) => x.name), ['global@2027']);
    assert.equal(snap.earlierSeries.count, 1);
    assert.equal(snap.totals.length, 1, 'the totals of live series only');
    metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.equal(sample(metrics, 'seqd_series_high_water_mark', 'global@2026'), undefined);
    assert.equal(sample(metrics, 'seqd_series_high_water_mark', 'global@2027'), '1');
    assert.match(metrics, /^seqd_series_count\{status="closed"\} 1$/m);
    assert.match(metrics, /^seqd_series_count\{status="open"\} 1$/m);
    const stats = await http<{ series: Summary[] }>(s.url, 'GET', '/api/v1/sequence/stats');
    const list = await http<{ series: Summary[] }>(s.url, 'GET', '/api/v1/sequence/series');
    for (const series of [stats.body.series, list.body.series]) {
      assert.deepEqual(series.map((x) => [x.name, x.status, x.highWaterMark]), [['global@2026', 'closed', 3], ['global@2027', 'open', 1]]);
    }
  });
});
