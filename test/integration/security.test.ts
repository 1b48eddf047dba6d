import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config-loader.js';
import { sha256Hex } from '../../src/security/api-keys.js';
import { startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { makeTestPki, pem, type TestPki } from '../helpers/tls.js';

const KEYS = {
  allocator: 'alloc-key-0123456789abcdef',
  manager: 'manage-key-0123456789abcdef',
  admin: 'admin-key-0123456789abcdef',
  reader: 'read-key-0123456789abcdef',
} as const;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string; allowed?: string[] } } & Record<string, unknown>;
}

/** A JSON request over HTTPS, trusting only the test CA. */
function call(base: string, ca: Buffer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      new URL(path, base),
      { method, ca, headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: Reply['body'];
          try {
            parsed = JSON.parse(text) as Reply['body'];
          } catch {
            parsed = { raw: text };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const holder = { siteId: 'site-1', partitionId: 'partition-a' };

describe('API keys, roles and HTTPS', () => {
  let pki: TestPki;
  let s: TestServer;
  let ca: Buffer;
  before(async () => {
    pki = makeTestPki();
    ca = pem(pki.ca);
    s = await startTestServer({
      server: { tls: { cert: pki.serverCert, key: pki.serverKey } },
      security: {
        'require-api-keys': true,
        'require-tls': true,
        'demo-runs-per-minute': 2,
        'api-keys': [
          { name: 'billing', sha256: sha256Hex(KEYS.allocator), roles: ['allocate'] },
          { name: 'backoffice', sha256: sha256Hex(KEYS.manager), roles: ['allocate', 'manage'] },
          { name: 'ops', sha256: sha256Hex(KEYS.admin), roles: ['admin'] },
          { name: 'prometheus', sha256: sha256Hex(KEYS.reader), roles: ['read'] },
        ],
      },
    });
  });
  after(async () => {
    await s?.dispose();
    pki?.dispose();
  });

  it('listens on HTTPS only', async () => {
    assert.match(s.url, /^https:\/\//);
    await assert.rejects(fetch(s.url.replace('https:', 'http:') + '/health'));
    const r = await call(s.url, ca, 'GET', '/health');
    assert.equal(r.status, 200);
  });

  it('refuses calls without a valid key (401, JSON error, WWW-Authenticate) and changes nothing', async () => {
    const attempts: Record<string, string>[] = [{}, bearer('not-a-key-at-all-0000'), { 'x-api-key': '' }];
    for (const headers of attempts) {
      const r = await call(s.url, ca, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' }, headers);
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.equal(r.body.error?.code, 'UNAUTHENTICATED');
      assert.match(String(r.headers['www-authenticate']), /Bearer/);
    }
    for (const path of ['/api/v1/sequence/stats', '/metrics', '/docs/json', '/api/v1/no-such-route']) {
      assert.equal((await call(s.url, ca, 'GET', path)).status, 401, path);
    }
    const stats = await call(s.url, ca, 'GET', '/api/v1/sequence/stats', undefined, bearer(KEYS.allocator));
    assert.equal(stats.body.highWaterMark, 0, 'nothing was allocated by the refused calls');
  });

  it('gives each role its routes: allocate, manage, admin; 403 names the role needed', async () => {
    const next = await call(s.url, ca, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 2 }, bearer(KEYS.allocator));
    assert.equal(next.status, 200, JSON.stringify(next.body));
    const release = (key: string) => call(s.url, ca, 'POST', '/api/v1/sequence/release', { sequenceNumber: 1, ...holder, reason: 'x' }, bearer(key));
    const refused = await release(KEYS.allocator);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error?.code, 'FORBIDDEN');
    assert.deepEqual(refused.body.error?.allowed, ['manage', 'admin']);
    assert.equal((await call(s.url, ca, 'GET', '/api/v1/sequence/gaps', undefined, bearer(KEYS.allocator))).body.count, 0, 'the refused release changed nothing');
    assert.equal((await release(KEYS.manager)).status, 200);
    const settings = { simulatedEnabled: false, reason: 'test' };
    assert.equal((await call(s.url, ca, 'PUT', '/api/v1/settings', settings, bearer(KEYS.manager))).status, 403);
    assert.equal((await call(s.url, ca, 'PUT', '/api/v1/settings', settings, bearer(KEYS.admin))).status, 200);
    assert.equal((await call(s.url, ca, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' }, bearer(KEYS.admin))).status, 200, 'admin may do everything');
    // Any valid key reads; the dashboard's cookie works like the header.
    assert.equal((await call(s.url, ca, 'GET', '/metrics', undefined, { 'x-api-key': KEYS.allocator })).status, 200);
    assert.equal((await call(s.url, ca, 'GET', '/api/v1/audit', undefined, { cookie: `other=1; seqd_key=${KEYS.allocator}` })).status, 200);
    const forward = await call(s.url, ca, 'POST', '/internal/v1/forward', { series: 'global', ops: [] }, bearer(KEYS.manager));
    assert.equal(forward.status, 403, 'only the internal role (or admin) forwards commits');
  });

  it('a read key (for Prometheus or a report) reads metrics, stats and the audit, and changes nothing', async () => {
    for (const path of ['/metrics', '/api/v1/sequence/stats', '/api/v1/audit', '/api/v1/audit/verify']) {
      assert.equal((await call(s.url, ca, 'GET', path, undefined, bearer(KEYS.reader))).status, 200, path);
    }
    const next = await call(s.url, ca, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' }, bearer(KEYS.reader));
    assert.equal(next.status, 403);
    assert.deepEqual(next.body.error?.allowed, ['allocate', 'admin']);
    assert.equal((await call(s.url, ca, 'POST', '/api/v1/sequence/release', { sequenceNumber: 1, ...holder, reason: 'x' }, bearer(KEYS.reader))).status, 403);
    assert.equal((await call(s.url, ca, 'PUT', '/api/v1/settings', { simulatedEnabled: true, reason: 'x' }, bearer(KEYS.reader))).status, 403);
    assert.equal((await call(s.url, ca, 'POST', '/internal/v1/forward', { series: 'global', ops: [] }, bearer(KEYS.reader))).status, 403);
  });

  it('rate-limits demo runs (429 with Retry-After), for admins only', async () => {
    assert.equal((await call(s.url, ca, 'POST', '/api/v1/demo/basic', undefined, bearer(KEYS.manager))).status, 403);
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await call(s.url, ca, 'POST', '/api/v1/demo/basic', undefined, bearer(KEYS.admin)));
    assert.deepEqual(runs.map((r) => r.status), [200, 200, 429]);
    assert.equal(runs[2]?.body.error?.code, 'RATE_LIMITED');
    assert.ok(Number(runs[2]?.headers['retry-after']) >= 1);
  });

  it('serves the dashboard page without a key (it asks for one)', async () => {
    const page = await call(s.url, ca, 'GET', '/dashboard');
    assert.equal(page.status, 200);
    assert.match(String(page.body.raw), /id="key-form"/);
  });
});

describe('production profile', () => {
  const load = (env: Record<string, string>, overrides: Record<string, unknown> = {}) =>
    loadConfig({ profile: 'production', env, overrides });

  it('refuses to start without keys, then without TLS, naming the key', () => {
    assert.throws(() => load({}), /security\.api-keys/);
    assert.throws(() => load({ SEQD_API_KEYS: `billing:allocate:${KEYS.allocator}` }), /server\.tls/);
  });

  it('takes keys from SEQD_API_KEYS hashed, listens on all interfaces, demos off', () => {
    const { config } = load(
      { SEQD_API_KEYS: `billing:allocate:${KEYS.allocator},ops:admin+manage:${KEYS.admin}` },
      { server: { tls: { cert: 'c.pem', key: 'k.pem' } } },
    );
    assert.deepEqual(
      config.security['api-keys'].map((k) => [k.name, k.roles, k.sha256]),
      [['billing', ['allocate'], sha256Hex(KEYS.allocator)], ['ops', ['admin', 'manage'], sha256Hex(KEYS.admin)]],
    );
    assert.ok(!JSON.stringify(config).includes(KEYS.allocator), 'the key itself is kept nowhere');
    assert.equal(config.server.host, '0.0.0.0');
    assert.equal(config.sequence.demo.enabled, false);
    assert.throws(() => load({ SEQD_API_KEYS: 'billing:allocate:short' }), /SEQD_API_KEYS\[0\]/);
  });

  it('keeps the poc profile on 127.0.0.1 and open', () => {
    const { config } = loadConfig({ profile: 'poc', env: {} });
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.security['require-api-keys'], false);
  });
});
