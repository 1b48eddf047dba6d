import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

interface Next {
  series: string;
  numbers: number[];
  allocation: string;
}
type Refusal = ErrorBody & { error: { series?: string } };

const s1a = { siteId: 'site-1', partitionId: 'partition-a' };

// Issue 13 (minor): a release or confirm whose invoiceType (or site, or partition) contradicts
// the series it names was accepted: the request says two different things, and one was ignored.
describe('a release or confirm whose fields contradict the series it names is refused', () => {
  let s: TestServer;
  let n = 0;
  let allocation = '';
  before(async () => {
    s = await startTestServer({ sequence: { series: { 'split-by': ['site', 'invoice-type'] } } });
    const got = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...s1a, invoiceType: 'on-cycle', count: 3 });
    assert.equal(got.body.series, 'site-1:on-cycle');
    n = got.body.numbers[0] ?? 0;
    allocation = got.body.allocation;
  });
  after(async () => s.dispose());

  const refusedWith = (r: { status: number; body: Refusal }, field: string, values: string[]) => {
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'VALIDATION_ERROR');
    assert.equal(r.body.error.field, field);
    assert.equal(r.body.error.series, 'site-1:on-cycle');
    for (const v of values) assert.ok(r.body.error.message.includes(v), `"${r.body.error.message}" names ${v}`);
  };

  it('invoiceType against the series: 400 naming both, for release and confirm', async () => {
    const body = { sequenceNumber: n, ...s1a, series: 'site-1:on-cycle', invoiceType: 'off-cycle' };
    refusedWith(await http<Refusal>(s.url, 'POST', '/api/v1/sequence/release', { ...body, reason: 'x' }), 'invoiceType', ['off-cycle', 'site-1:on-cycle']);
    refusedWith(await http<Refusal>(s.url, 'POST', '/api/v1/sequence/confirm', body), 'invoiceType', ['off-cycle', 'site-1:on-cycle']);
    // The series taken from the allocation token is held to the same.
    refusedWith(await http<Refusal>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...s1a, invoiceType: 'off-cycle', allocation }), 'invoiceType', ['off-cycle']);
  });

  it('siteId against the series: 400 naming both (it was a 409 holder mismatch at best)', async () => {
    const r = await http<Refusal>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, siteId: 'site-2', partitionId: 'partition-a', series: 'site-1:on-cycle', reason: 'x' });
    refusedWith(r, 'siteId', ['site-2', 'site-1:on-cycle']);
  });

  it('nothing was changed; matching fields still act', async () => {
    const gaps = await http<{ openGaps: number }>(s.url, 'GET', '/api/v1/sequence/gaps?series=site-1:on-cycle');
    assert.equal(gaps.body.openGaps, 0);
    const ok = await http<{ status: string }>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...s1a, series: 'site-1:on-cycle', invoiceType: 'on-cycle' });
    assert.deepEqual([ok.status, ok.body.status], [200, 'confirmed']);
    const rel = await http<{ status: string }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n + 1, ...s1a, invoiceType: 'on-cycle', allocation, reason: 'cancelled' });
    assert.deepEqual([rel.status, rel.body.status], [200, 'open']);
  });
});

describe('a partition contradicting the series it names is refused', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ sequence: { series: { 'split-by': ['site', 'partition'] } } });
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...s1a, invoiceType: 'on-cycle' });
  });
  after(async () => s.dispose());

  it('400 naming partitionId and the series', async () => {
    const r = await http<Refusal>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 1, siteId: 'site-1', partitionId: 'partition-b', series: 'site-1:partition-a' });
    assert.deepEqual([r.status, r.body.error.field, r.body.error.series], [400, 'partitionId', 'site-1:partition-a']);
    assert.match(r.body.error.message, /partition-b.*site-1:partition-a/);
  });
});
