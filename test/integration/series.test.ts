import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface Next {
  numbers: number[];
  series: string;
  formatted?: string[];
}
interface ErrorBody {
  error: { code: string; field?: string; allowed?: string[] };
}
interface SeriesList {
  defaultSeries: string;
  series: { name: string; highWaterMark: number; status: string }[];
}

const s1a = { siteId: 'site-1', partitionId: 'partition-a' };
const s1b = { siteId: 'site-1', partitionId: 'partition-b' };
const s2a = { siteId: 'site-2', partitionId: 'partition-a' };

describe('series split by site and partition', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({
      sequence: {
        core: { 'global-counter-start': 100 },
        format: { prefix: 'INV-{site}-{partition}', padding: 6 },
        series: { 'split-by': ['site', 'partition'], formats: { 'site-2:partition-a': { prefix: 'S2A', padding: 4 } } },
      },
    });
  });
  after(() => s?.dispose());

  const next = (holder: object, count = 1) =>
    http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count });

  it('numbers each site and partition from its own series, each from the start number', async () => {
    const a = await next(s1a, 2);
    const b = await next(s1b);
    const c = await next(s2a);
    const a2 = await next(s1a);
    assert.deepEqual([a.body.series, a.body.numbers], ['site-1:partition-a', [100, 101]]);
    assert.deepEqual([b.body.series, b.body.numbers], ['site-1:partition-b', [100]]);
    assert.deepEqual([c.body.series, c.body.numbers], ['site-2:partition-a', [100]]);
    assert.deepEqual(a2.body.numbers, [102]);
    assert.deepEqual(a.body.formatted, ['INV-site-1-partition-a-000100', 'INV-site-1-partition-a-000101']);
    assert.deepEqual(b.body.formatted, ['INV-site-1-partition-b-000100'], 'each series prints its own numbers');
    assert.deepEqual(c.body.formatted, ['S2A-0100'], 'the series format overrides the default one');
    const list = await http<SeriesList>(s.url, 'GET', '/api/v1/sequence/series');
    assert.equal(list.body.defaultSeries, 'site-1:partition-a');
    assert.deepEqual(
      list.body.series.map((x) => [x.name, x.highWaterMark]),
      [['site-1:partition-a', 102], ['site-1:partition-b', 100], ['site-2:partition-a', 100]],
    );
  });

  it('releases and confirms in the holder’s series; a named series must exist', async () => {
    const r = await http<{ series: string; status: string }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 100, ...s1b, reason: 'cancelled' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.series, r.body.status], ['site-1:partition-b', 'open']);
    const c = await http<{ series: string }>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 100, ...s1a, series: 'site-1:partition-a' });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    // Another holder's series: its site contradicts the siteId sent (refused before the store is asked).
    const wrong = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 100, ...s1a, series: 'site-2:partition-a' });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error.field, 'siteId');
    const before = await http<SeriesList>(s.url, 'GET', '/api/v1/sequence/series');
    const unknown = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 1, siteId: 'site-2', partitionId: 'partition-b', reason: 'x' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'SERIES_NOT_FOUND');
    assert.ok(unknown.body.error.allowed?.includes('site-1:partition-a'));
    const named = await http<ErrorBody>(s.url, 'GET', '/api/v1/sequence/gaps?series=nope');
    assert.equal(named.status, 404);
    const bad = await http<ErrorBody>(s.url, 'GET', '/api/v1/audit?series=a%2Fb');
    assert.equal(bad.status, 400);
    const afterList = await http<SeriesList>(s.url, 'GET', '/api/v1/sequence/series');
    assert.deepEqual(afterList.body, before.body, 'refused requests create no series');
  });

  it('gaps, audit, exports and verify per series; verify without a series covers all', async () => {
    const gaps = await http<{ series: string; gaps: { sequenceNumber: number }[] }>(s.url, 'GET', '/api/v1/sequence/gaps?series=site-1:partition-b');
    assert.deepEqual([gaps.body.series, gaps.body.gaps.map((g) => g.sequenceNumber)], ['site-1:partition-b', [100]]);
    const defaultGaps = await http<{ series: string; gaps: unknown[] }>(s.url, 'GET', '/api/v1/sequence/gaps');
    assert.deepEqual([defaultGaps.body.series, defaultGaps.body.gaps.length], ['site-1:partition-a', 0]);
    const audit = await http<{ events: { event: string; siteId: string }[] }>(s.url, 'GET', '/api/v1/audit?series=site-2:partition-a&order=asc');
    assert.deepEqual(audit.body.events.map((e) => [e.event, e.siteId]), [['issue', 'site-2']]);
    const csv = await fetch(`${s.url}/api/v1/sequence/gaps/export?format=csv&series=site-1:partition-b`);
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-disposition') ?? '', /seqd-gaps-site-1_partition-b\.csv/);
    assert.match(await csv.text(), /^number,status,reason/m);
    const one = await http<{ series: string; valid: boolean; eventsChecked: number }>(s.url, 'GET', '/api/v1/audit/verify?series=site-1:partition-a');
    assert.deepEqual([one.body.series, one.body.valid], ['site-1:partition-a', true]);
    const all = await http<{ valid: boolean; reports: { series: string; valid: boolean }[] }>(s.url, 'GET', '/api/v1/audit/verify');
    assert.equal(all.body.valid, true);
    assert.deepEqual(
      all.body.reports.map((r) => r.series),
      ['_settings', 'site-1:partition-a', 'site-1:partition-b', 'site-2:partition-a'],
    );
  });

  it('stats list every series; totals add up across them', async () => {
    const st = await http<{ highWaterMark: number; defaultSeries: string; totals: { issued: number; bySite: Record<string, { issued: number }> } }>(
      s.url,
      'GET',
      '/api/v1/sequence/stats',
    );
    assert.equal(st.body.defaultSeries, 'site-1:partition-a');
    assert.equal(st.body.highWaterMark, 102);
    assert.equal(st.body.totals.issued, 5);
    assert.equal(st.body.totals.bySite['site-2']?.issued, 1);
  });
});

describe('series split by invoice type', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ sequence: { series: { 'split-by': ['invoice-type'] } } });
  });
  after(() => s?.dispose());

  it('needs the series or the invoice type to find a number to release', async () => {
    const on = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...s1a, invoiceType: 'on-cycle' });
    const off = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...s1a, invoiceType: 'off-cycle' });
    assert.deepEqual([on.body.series, on.body.numbers, off.body.series, off.body.numbers], ['on-cycle', [1], 'off-cycle', [1]]);
    const vague = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 1, ...s1a, reason: 'x' });
    assert.equal(vague.status, 400);
    assert.equal(vague.body.error.field, 'series');
    const byType = await http<{ series: string }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 1, ...s1a, invoiceType: 'off-cycle', reason: 'x' });
    assert.deepEqual([byType.status, byType.body.series], [200, 'off-cycle']);
    const refill = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...s1a, invoiceType: 'off-cycle' });
    assert.deepEqual(refill.body.numbers, [1], 'the gap is refilled in its own series');
  });
});

describe('series configuration', () => {
  it('refuses a format for a series no request maps to, naming the key', async () => {
    await assert.rejects(
      startTestServer({ sequence: { series: { 'split-by': ['site'], formats: { 'site-9': { prefix: 'X' } } } } }),
      (e: Error) => /sequence\.series\.formats\.site-9/.test(e.message),
    );
  });
});
