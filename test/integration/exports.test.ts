import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

const AUDIT_HEADER = ['seq', 'timestamp', 'event', 'first', 'last', 'siteId', 'partitionId', 'invoiceType', 'reason', 'requestId', 'batchId', 'node', 'allocation', 'prevHash', 'hash', 'series', 'formatted', 'actor'];
const GAP_HEADER = ['number', 'status', 'reason', 'siteId', 'partitionId', 'invoiceType', 'changedAt', 'series', 'formatted'];

const next = (s: TestServer, siteId: string, invoiceType = 'on-cycle') =>
  http(s.url, 'POST', '/api/v1/sequence/next', { siteId, partitionId: 'partition-a', invoiceType, count: 1 });

/** Splits CSV text into rows of fields (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  return rows;
}

describe('auditor exports: audit trail and gap report as CSV and NDJSON', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
    for (let i = 0; i < 30; i++) await next(s, i % 2 ? 'site-1' : 'site-2');
    await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 2, siteId: 'site-1', partitionId: 'partition-a', reason: 'cancelled, "by customer"\nsecond line' });
    await next(s, 'site-2', 'suppressed');
  });
  after(async () => s.dispose());

  it('streams every event as NDJSON, in sequence order, with the total for progress', async () => {
    const res = await fetch(`${s.url}/api/v1/audit/export`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /ndjson/);
    const total = Number(res.headers.get('x-seqd-total-events'));
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { seq: number; event: string; hash: string });
    assert.equal(lines.length, total);
    assert.deepEqual(lines.map((l) => l.seq), lines.map((_, i) => i + 1));
    assert.equal(lines.filter((l) => l.event === 'release').length, 2);
  });

  it('writes CSV that quotes reasons with commas, quotes and line breaks, and filters', async () => {
    const res = await fetch(`${s.url}/api/v1/audit/export?format=csv&event=release`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /seqd-audit-global\.csv/);
    const rows = parseCsv(await res.text());
    const [header, ...data] = rows;
    // The columns as before, in their order; series and formatted appended (issue 13, minor), then actor (item 5).
    assert.deepEqual(header, AUDIT_HEADER);
    const reason = header?.indexOf('reason') ?? -1;
    assert.equal(data.length, 2);
    assert.ok(data.some((r) => r[reason] === 'cancelled, "by customer"\nsecond line'));
    const none = await fetch(`${s.url}/api/v1/audit/export?format=csv&from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z`);
    assert.equal(parseCsv(await none.text()).length, 1, 'only the header for an empty period');
  });

  it('exports the gap report; bad parameters get a 400 JSON error', async () => {
    const gaps = await fetch(`${s.url}/api/v1/sequence/gaps/export?format=ndjson&status=all`);
    const rows = (await gaps.text()).trim().split('\n').map((l) => JSON.parse(l) as { number: number; status: string; series: string; formatted: string | null });
    assert.ok(rows.some((r) => r.number === 2 && r.status === 'open'));
    assert.ok(rows.every((r) => r.series === 'global' && r.formatted === null), 'no format configured: formatted is null');
    const csv = parseCsv(await (await fetch(`${s.url}/api/v1/sequence/gaps/export?format=csv&status=open`)).text());
    assert.deepEqual(csv[0], GAP_HEADER);
    assert.deepEqual(csv[1]?.slice(-2), ['global', ''], 'an empty formatted cell without a format');
    const bad = await http<{ error: { field?: string } }>(s.url, 'GET', '/api/v1/audit/export?format=xml');
    assert.equal(bad.status, 400);
    const badTime = await http<{ error: { field?: string } }>(s.url, 'GET', '/api/v1/audit/export?from=yesterday');
    assert.equal(badTime.status, 400);
    assert.equal(badTime.body.error.field, 'from');
  });
});

interface ExportedRow {
  event?: string;
  first?: number;
  number?: number;
  status?: string;
  series: string;
  formatted: string | null;
}

// Issue 13 (minor): exports had no series and no formatted number. `formatted` is the number as
// its holder was shown it: formatted at the allocation that gave it, not at the row's own time.
describe('exports carry the series and the formatted number', () => {
  let clock = Date.parse('2026-12-31T23:59:00Z');
  let s: TestServer;
  const ndjson = async (path: string) =>
    (await (await fetch(`${s.url}${path}`)).text()).trim().split('\n').map((l) => JSON.parse(l) as ExportedRow);
  before(async () => {
    const format = (prefix: string) => ({ prefix, year: true, padding: 6, separator: '-', 'time-zone': 'UTC' });
    // One format per site's series: their printed numbers must differ.
    const series = { 'split-by': ['site'], formats: { 'site-1': format('INV'), 'site-2': format('SITE2') } };
    s = await startTestServer({ sequence: { series } }, undefined, { now: () => clock });
    const got = await http<{ formatted: string[] }>(s.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 2 });
    assert.deepEqual(got.body.formatted, ['INV-2026-000001', 'INV-2026-000002']);
    clock = Date.parse('2027-01-01T00:01:00Z');
    for (const n of [1, 2]) await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, siteId: 'site-1', partitionId: 'partition-a', reason: 'cancelled' });
    const refill = await http<{ formatted: string[] }>(s.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' });
    assert.deepEqual(refill.body.formatted, ['INV-2027-000001'], 'a refill is shown with its own year');
  });
  after(async () => s.dispose());

  it('audit export: per event, the numbers as handed out (a range for a batch)', async () => {
    const rows = await ndjson('/api/v1/audit/export?format=ndjson&series=site-1');
    assert.deepEqual(
      rows.map((r) => [r.event, r.first, r.series, r.formatted]),
      [
        ['issue', 1, 'site-1', 'INV-2026-000001..INV-2026-000002'],
        ['release', 1, 'site-1', 'INV-2026-000001'],
        ['release', 2, 'site-1', 'INV-2026-000002'],
        ['refill', 1, 'site-1', 'INV-2027-000001'],
      ],
    );
    const csv = parseCsv(await (await fetch(`${s.url}/api/v1/audit/export?format=csv&series=site-1&event=release`)).text());
    assert.deepEqual(csv[0], AUDIT_HEADER);
    // Keys are off: no actor (an empty cell).
    assert.deepEqual(csv.slice(1).map((r) => r.slice(-3)), [['site-1', 'INV-2026-000001', ''], ['site-1', 'INV-2026-000002', '']], 'filtered rows still know their allocation');
  });

  it('audit export of every series: each row names its series and prints its own format; series with allSeries is refused', async () => {
    await http(s.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-2', partitionId: 'partition-a', invoiceType: 'on-cycle' });
    const res = await fetch(`${s.url}/api/v1/audit/export?format=ndjson&allSeries=true&event=issue`);
    assert.match(res.headers.get('content-disposition') ?? '', /all-series/);
    const rows = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as ExportedRow);
    assert.deepEqual(rows.map((r) => [r.series, r.formatted]), [
      ['site-1', 'INV-2026-000001..INV-2026-000002'],
      ['site-2', 'SITE2-2027-000001'],
    ]);
    const all = await fetch(`${s.url}/api/v1/audit/export?format=ndjson&allSeries=true`);
    const lines = (await all.text()).trim().split('\n');
    assert.equal(lines.length, Number(all.headers.get('x-seqd-total-events')), 'the total announced covers every series');
    const both = await http<{ error: { field: string } }>(s.url, 'GET', '/api/v1/audit/export?allSeries=true&series=site-1');
    assert.deepEqual([both.status, both.body.error.field], [400, 'allSeries']);
  });

  it('gap export: each number as its last holder was shown it', async () => {
    const rows = await ndjson('/api/v1/sequence/gaps/export?format=ndjson&status=all&series=site-1');
    assert.deepEqual(rows.map((r) => [r.number, r.status, r.series, r.formatted]), [
      [1, 'refilled', 'site-1', 'INV-2027-000001'],
      [2, 'open', 'site-1', 'INV-2026-000002'],
    ]);
    const csv = parseCsv(await (await fetch(`${s.url}/api/v1/sequence/gaps/export?format=csv&status=open&series=site-1`)).text());
    assert.deepEqual(csv[0], GAP_HEADER);
    assert.deepEqual(csv[1]?.slice(-2), ['site-1', 'INV-2026-000002']);
  });
});
