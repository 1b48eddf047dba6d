import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface AuditPage {
  events: { event: string; first: number; reason: string | null }[];
}

const missing = etcdMissing();

// The etcd store under the reservation timeout, with two instances sweeping the same series.
describe('reservation timeout on etcd: each unconfirmed number expires once', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    tc = await startTestCluster();
    const overrides = {
      sequence: {
        storage: 'etcd',
        core: { 'reservation-timeout-seconds': 1 },
        etcd: { embedded: false, endpoints: tc.cluster.endpoints, 'forward-commits': false },
      },
    };
    a = await startTestServer({ ...overrides, server: { 'advertise-url': 'https://seqd-a.example:8443' }, sequence: { ...overrides.sequence, 'node-id': 'exp-a' } });
    b = await startTestServer({ ...overrides, sequence: { ...overrides.sequence, 'node-id': 'exp-b' } });
  });
  after(async () => {
    await a?.dispose();
    await b?.dispose();
    await tc?.dispose();
  });

  it('releases the unconfirmed numbers as expired, once each', async () => {
    const holder = { siteId: 'site-1', partitionId: 'partition-a' };
    const got: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await http<{ numbers: number[] }>(i % 2 ? a.url : b.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 1 });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      got.push(...r.body.numbers);
    }
    const confirmed = got.slice(0, 2);
    for (const n of confirmed) await http(a.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder });
    const shouldExpire = got.slice(2);
    const expired = async () =>
      (await http<AuditPage>(a.url, 'GET', '/api/v1/audit?event=release&limit=1000')).body.events.filter((e) => e.reason === 'expired').map((e) => e.first);
    for (let i = 0; i < 100 && (await expired()).length < shouldExpire.length; i++) await sleep(100);
    await sleep(1500);
    assert.deepEqual((await expired()).sort((x, y) => x - y), shouldExpire);
    assert.equal((await http<{ valid: boolean }>(b.url, 'GET', '/api/v1/audit/verify')).body.valid, true);
  });

  it('registers each instance under its advertised URL (what peers forward commits to)', async () => {
    const stats = await http<{ cluster: { instances: { node: string; url: string }[] } }>(b.url, 'GET', '/api/v1/sequence/stats');
    const urls = Object.fromEntries(stats.body.cluster.instances.map((i) => [i.node, i.url]));
    assert.equal(urls['exp-a'], 'https://seqd-a.example:8443');
    assert.equal(urls['exp-b'], b.url);
  });
});
