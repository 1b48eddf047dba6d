import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface ErrorReply {
  status: number;
  allow: string | null;
  body: { error: { code: string; message: string; allowed?: string[] } };
}

async function call(base: string, method: string, path: string): Promise<ErrorReply> {
  const res = await fetch(base + path, { method });
  return { status: res.status, allow: res.headers.get('allow'), body: (await res.json()) as ErrorReply['body'] };
}

// Issue 13 (minor): a wrong method on an existing route answered 404, as if the path did not exist.
describe('a wrong method on an existing route is 405 with Allow', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s.dispose());

  it('answers 405 METHOD_NOT_ALLOWED with the methods the path takes', async () => {
    const stats = await call(s.url, 'DELETE', '/api/v1/sequence/stats');
    assert.equal(stats.status, 405);
    assert.equal(stats.allow, 'GET, HEAD');
    assert.equal(stats.body.error.code, 'METHOD_NOT_ALLOWED');
    assert.deepEqual(stats.body.error.allowed, ['GET', 'HEAD']);
    assert.match(stats.body.error.message, /DELETE/);

    const release = await call(s.url, 'GET', '/api/v1/sequence/release?x=1');
    assert.equal(release.status, 405);
    assert.equal(release.allow, 'POST');

    // A path with a parameter, and one with GET, HEAD and PUT.
    assert.equal((await call(s.url, 'POST', '/api/v1/sequence/series/global')).allow, 'GET, HEAD');
    assert.equal((await call(s.url, 'DELETE', '/api/v1/settings')).allow, 'GET, HEAD, PUT');
    assert.equal((await call(s.url, 'PUT', '/api/v1/sequence/next')).allow, 'GET, HEAD, POST');
  });

  it('still answers 404 for a path no method serves', async () => {
    const none = await call(s.url, 'GET', '/api/v1/nothing-here');
    assert.equal(none.status, 404);
    assert.equal(none.body.error.code, 'NOT_FOUND');
    assert.equal(none.allow, null);
    assert.equal((await call(s.url, 'DELETE', '/api/v1/nothing-here')).status, 404);
  });
});
