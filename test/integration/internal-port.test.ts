import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface AuditPage {
  events: { first: number; last: number; event: string; node: string }[];
}

const body = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 };

/** The status of a request written as raw bytes, for request targets fetch() would normalise. */
function rawStatus(url: string, requestLine: string): Promise<number> {
  const { hostname, port } = new URL(url);
  const payload = JSON.stringify({ series: 'global', ops: [] });
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.end(`${requestLine}\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n${payload}`),
    );
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}
const missing = etcdMissing();

// `server.internal-port`: commit forwarding on its own port, so a network policy can keep it
// between instances. The API port must refuse it, and the internal port must serve nothing else.
describe('internal port (server.internal-port)', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    tc = await startTestCluster();
    const overrides = (node: string) => ({
      server: { 'internal-port': 0 },
      sequence: { 'node-id': node, storage: 'etcd', etcd: { embedded: false, endpoints: tc.cluster.endpoints, 'request-timeout-ms': 500 } },
    });
    a = await startTestServer(overrides('seqd-a'));
    b = await startTestServer(overrides('seqd-b'));
  });
  after(async () => {
    await b?.dispose();
    await a?.dispose();
    await tc?.dispose();
  });

  it('listens on a second port and names it', () => {
    assert.notEqual(a.internalUrl, a.url);
    assert.match(a.internalUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('the API port refuses the internal route (404, nothing done); the internal port serves only it and the probes', async () => {
    const onApi = await http(a.url, 'POST', '/internal/v1/forward', { ops: [] });
    assert.equal(onApi.status, 404, JSON.stringify(onApi.body));
    // Spellings the router maps to the same route: decoded escapes, an absolute-form target.
    for (const target of ['/%69nternal/v1/forward', 'http://seqd/internal/v1/forward', 'HTTPS://seqd/internal/v1/forward', '/internal/v1/forward?x=1']) {
      assert.equal(await rawStatus(a.url, `POST ${target} HTTP/1.1`), 404, target);
    }
    // On the internal port the same spelling reaches the route (400: this empty batch is refused by its schema).
    assert.equal(await rawStatus(a.internalUrl, 'POST /%69nternal/v1/forward HTTP/1.1'), 400);
    assert.equal((await http(a.internalUrl, 'POST', '/api/v1/sequence/next', body)).status, 404);
    assert.equal((await http(a.internalUrl, 'GET', '/api/v1/sequence/stats')).status, 404);
    assert.equal((await http(a.internalUrl, 'GET', '/metrics')).status, 404);
    assert.equal((await http(a.internalUrl, 'GET', '/ready')).status, 200);
    assert.equal((await http(a.internalUrl, 'GET', '/health')).status, 200);
    const audit = await http<AuditPage>(a.url, 'GET', '/api/v1/audit?limit=100');
    assert.equal(audit.body.events.filter((e) => e.event === 'issue').length, 0, 'a refused request issued a number');
  });

  it('forwards commits through the internal port: the second instance is committed by the first', async () => {
    let by: string | undefined;
    for (let i = 0; i < 50 && by !== 'seqd-a'; i++) {
      const r = await http<{ numbers: number[] }>(b.url, 'POST', '/api/v1/sequence/next', body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const n = r.body.numbers[0] ?? 0;
      const page = await http<AuditPage>(b.url, 'GET', `/api/v1/audit?number=${n}&limit=10`);
      by = page.body.events.find((e) => e.event === 'issue' && e.first <= n && e.last >= n)?.node;
      if (by !== 'seqd-a') await sleep(100);
    }
    assert.equal(by, 'seqd-a', 'requests to seqd-b are not forwarded to seqd-a through its internal port');
  });
});
