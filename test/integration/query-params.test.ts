import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

// A misspelt query parameter must not be ignored (issue 13, item 7): `cnt=5` gave one number,
// `idempotencyKey=` allocated again on every retry, `evnt=release` returned the whole trail.
describe('unknown query parameters are refused, naming them', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s.dispose());

  const base = '/api/v1/sequence/next?siteId=site-1&partitionId=partition-a&invoiceType=on-cycle';
  for (const path of [`${base}&cnt=5`, `${base}&idempotencyKey=abc`, '/api/v1/audit?evnt=release', '/api/v1/sequence/gaps?stat=open', '/api/v1/audit/verify?serie=global']) {
    it(`GET ${path}`, async () => {
      const before = await http<{ highWaterMark: number }>(s.url, 'GET', '/api/v1/sequence/stats');
      const r = await http<ErrorBody>(s.url, 'GET', path);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      const name = /[?&](cnt|idempotencyKey|evnt|stat|serie)=/.exec(path)?.[1];
      assert.equal(r.body.error.field, name);
      assert.match(r.body.error.message, new RegExp(`unknown field "${name}"`));
      const after = await http<{ highWaterMark: number }>(s.url, 'GET', '/api/v1/sequence/stats');
      assert.equal(after.body.highWaterMark, before.body.highWaterMark, 'nothing allocated');
    });
  }

  it('known parameters still work', async () => {
    const r = await http<{ numbers: number[] }>(s.url, 'GET', `${base}&count=2&requestId=q-1`);
    assert.equal(r.status, 200);
    assert.equal(r.body.numbers.length, 2);
  });
});
