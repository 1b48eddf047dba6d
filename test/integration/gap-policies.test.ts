import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface DemoReply {
  verification: { passed: boolean; checks: { name: string; passed: boolean; detail: string }[] };
  summary: { gapPolicy: string };
}

describe('gap policy chronological (sequence.core.gap-policy)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ sequence: { core: { 'gap-policy': 'chronological' } } });
  });
  after(async () => s.dispose());

  it('voids a number released below a held one, refills one released at the top', async () => {
    const body = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 3 };
    const got = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', body);
    const [low, , top] = got.body.numbers;
    const release = (n: number | undefined) =>
      http<{ status: string }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, siteId: 'site-1', partitionId: 'partition-a', reason: 'cancelled' });
    assert.equal((await release(low)).body.status, 'void');
    assert.equal((await release(top)).body.status, 'open');
    const next = await http<{ numbers: number[]; refilled: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...body, count: 1 });
    assert.deepEqual(next.body.refilled, [top]);
    const verify = await http<{ valid: boolean }>(s.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true);
  });

  it('runs the gaps demo under it with every check passing', async () => {
    const r = await http<DemoReply>(s.url, 'POST', '/api/v1/demo/gaps');
    assert.equal(r.status, 200);
    const failed = r.body.verification.checks.filter((c) => !c.passed);
    assert.deepEqual(failed, []);
    assert.equal(r.body.summary.gapPolicy, 'chronological');
  });
});
