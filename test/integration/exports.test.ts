import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

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
    assert.equal(header?.[0], 'seq');
    const reason = header?.indexOf('reason') ?? -1;
    assert.equal(data.length, 2);
    assert.ok(data.some((r) => r[reason] === 'cancelled, "by customer"\nsecond line'));
    const none = await fetch(`${s.url}/api/v1/audit/export?format=csv&from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z`);
    assert.equal(parseCsv(await none.text()).length, 1, 'only the header for an empty period');
  });

  it('exports the gap report; bad parameters get a 400 JSON error', async () => {
    const gaps = await fetch(`${s.url}/api/v1/sequence/gaps/export?format=ndjson&status=all`);
    const rows = (await gaps.text()).trim().split('\n').map((l) => JSON.parse(l) as { number: number; status: string });
    assert.ok(rows.some((r) => r.number === 2 && r.status === 'open'));
    const bad = await http<{ error: { field?: string } }>(s.url, 'GET', '/api/v1/audit/export?format=xml');
    assert.equal(bad.status, 400);
    const badTime = await http<{ error: { field?: string } }>(s.url, 'GET', '/api/v1/audit/export?from=yesterday');
    assert.equal(badTime.status, 400);
    assert.equal(badTime.body.error.field, 'from');
  });
});
