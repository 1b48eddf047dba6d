import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';

interface AuditPage {
  events: { first: number; last: number; event: string; node: string }[];
}

const body = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 };
const missing = etcdMissing();

/**
 * The test's own client: trusts the test CA and whatever name the certificate holds. (Switching
 * verification off for the whole process would switch it off for the forwarder under test too.)
 */
function https<T>(ca: Buffer, base: string, method: string, path: string, payload?: unknown): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const data = payload === undefined ? undefined : JSON.stringify(payload);
    const req = request(new URL(path, base), { method, ca, checkServerIdentity: () => undefined, headers: data ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Who committed the number a request to `url` got, over `rounds` requests; every reply must be 200. */
async function committers(ca: Buffer, url: string, rounds: number): Promise<Set<string>> {
  const by = new Set<string>();
  for (let i = 0; i < rounds; i++) {
    const r = await https<{ numbers: number[] }>(ca, url, 'POST', '/api/v1/sequence/next', body);
    assert.equal(r.status, 200, `request ${i}: ${JSON.stringify(r.body)}`);
    const n = r.body.numbers[0] ?? 0;
    const page = await https<AuditPage>(ca, url, 'GET', `/api/v1/audit?number=${n}&limit=10`);
    const node = page.body.events.find((e) => e.event === 'issue' && e.first <= n && e.last >= n)?.node;
    if (node) by.add(node);
    await sleep(50);
  }
  return by;
}

// HTTPS between instances, as in a Kubernetes Deployment: pods forward to each other's IP, which
// no certificate names in advance; one certificate for every pod names a fixed peer name.
describe('commit forwarding over HTTPS', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let pki: TestPki;
  const servers: TestServer[] = [];
  before(async () => {
    tc = await startTestCluster();
    pki = makeTestPki();
  });
  after(async () => {
    for (const s of servers) await s.dispose();
    await tc?.dispose();
    pki?.dispose();
  });
  const start = async (node: string, peerName?: string) => {
    const s = await startTestServer({
      server: { 'internal-port': 0, tls: { cert: pki.peerCert, key: pki.peerKey, ca: pki.ca, ...(peerName ? { 'peer-name': peerName } : {}) } },
      sequence: { 'node-id': node, storage: 'etcd', etcd: { embedded: false, endpoints: tc.cluster.endpoints, 'request-timeout-ms': 500 } },
    });
    servers.push(s);
    return s;
  };

  it('a peer certificate that does not name the address is never trusted, and costs no client an error: the sender commits itself', async () => {
    await start('seqd-a');
    const b = await start('seqd-b');
    const by = await committers(readFileSync(pki.ca), b.url, 20);
    assert.deepEqual([...by], ['seqd-b']);
    for (const s of servers.splice(0)) await s.dispose();
  });

  it('server.tls.peer-name: the peers are checked against that name, and the second instance forwards to the first', async () => {
    await start('seqd-c', 'seqd-peer');
    const d = await start('seqd-d', 'seqd-peer');
    let by = new Set<string>();
    for (let i = 0; i < 20 && !by.has('seqd-c'); i++) by = await committers(readFileSync(pki.ca), d.url, 3);
    assert.ok(by.has('seqd-c'), `seqd-d's requests were committed by ${[...by].join(', ')}`);
  });
});
