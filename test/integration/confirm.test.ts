import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

describe('confirm: a final invoice number can no longer be released', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s.dispose());

  const holder = { siteId: 'site-1', partitionId: 'partition-a' };

  it('confirms once, answers a repeat, refuses the release with 409 and leaves the trail valid', async () => {
    const got = await http<{ sequenceNumber: number }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 1 });
    const n = got.body.sequenceNumber;
    const first = await http<{ status: string; alreadyConfirmed: boolean; invoiceType: string }>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder });
    assert.equal(first.status, 200);
    assert.equal(first.body.status, 'confirmed');
    assert.equal(first.body.alreadyConfirmed, false);
    assert.equal(first.body.invoiceType, 'on-cycle');
    const again = await http<{ alreadyConfirmed: boolean }>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder });
    assert.equal(again.body.alreadyConfirmed, true);
    const release = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, ...holder, reason: 'oops' });
    assert.equal(release.status, 409);
    assert.equal(release.body.error.code, 'NUMBER_CONFIRMED');
    const audit = await http<{ events: { event: string; first: number }[] }>(s.url, 'GET', `/api/v1/audit?number=${n}&event=confirm`);
    assert.equal(audit.body.events.length, 1);
    const verify = await http<{ valid: boolean }>(s.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true);
  });

  it('refuses released and unknown numbers, and another site', async () => {
    const got = await http<{ sequenceNumber: number }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 1 });
    const n = got.body.sequenceNumber;
    const other = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, siteId: 'site-2', partitionId: 'partition-a' });
    assert.equal(other.status, 409);
    assert.equal(other.body.error.code, 'HOLDER_MISMATCH');
    await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, ...holder, reason: 'cancelled' });
    const released = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder });
    assert.equal(released.status, 409);
    assert.equal(released.body.error.code, 'NUMBER_ALREADY_RELEASED');
    const unknown = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 999999, ...holder });
    assert.equal(unknown.status, 404);
    const bad = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 'x', ...holder });
    assert.equal(bad.status, 400);
  });
});
