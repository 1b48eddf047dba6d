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

// The sweeping instance forwards its releases to the committing one. A commit that fails there
// comes back as a refusal (not a rejection): the sweep must try those numbers again, not pass them by.
describe('reservation timeout on etcd: a release the committing instance failed to commit is tried again', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let committer: TestServer;
  let forwarding: TestServer | null = null;
  before(async () => {
    tc = await startTestCluster();
    const etcd = { embedded: false, endpoints: tc.cluster.endpoints, 'forward-commits': true };
    // Only the forwarding instance sweeps (timeout 0 turns the committing one's sweeper off).
    committer = await startTestServer({ sequence: { storage: 'etcd', 'node-id': 'fx-a', core: { 'reservation-timeout-seconds': 0 }, etcd } });
    forwarding = await startTestServer({ sequence: { storage: 'etcd', 'node-id': 'fx-b', core: { 'reservation-timeout-seconds': 1 }, etcd } });
  });
  after(async () => {
    await forwarding?.dispose();
    await committer?.dispose();
    await tc?.dispose();
  });

  it('expires the number once the store commits again', async () => {
    const holder = { siteId: 'site-1', partitionId: 'partition-a' };
    // Wait until the sweeping instance forwards (it has seen the committing one announced).
    let by: string | undefined;
    const url = forwarding?.url ?? '';
    for (let i = 0; i < 50 && by !== 'fx-a'; i++) {
      const r = await http<{ numbers: number[] }>(url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await http(url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: r.body.numbers[0], ...holder });
      const page = await http<AuditPage & { events: { node: string }[] }>(url, 'GET', `/api/v1/audit?number=${r.body.numbers[0]}&event=issue&limit=1`);
      by = page.body.events[0]?.node;
      if (by !== 'fx-a') await sleep(100);
    }
    assert.equal(by, 'fx-a', 'the second instance never forwarded to the first');

    const r = await http<{ numbers: number[] }>(committer.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    const n = r.body.numbers[0];
    // The store commits nothing while the number comes due and the sweeps forward its release.
    const on = await http(committer.url, 'POST', '/api/v1/admin/maintenance', { enabled: true, reason: 'expiry test' });
    assert.equal(on.status, 200, JSON.stringify(on.body));
    await sleep(3000);
    const off = await http(committer.url, 'POST', '/api/v1/admin/maintenance', { enabled: false, reason: 'expiry test' });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const expired = async () =>
      (await http<AuditPage>(committer.url, 'GET', `/api/v1/audit?number=${n}&event=release&limit=10`)).body.events.some((e) => e.reason === 'expired');
    for (let i = 0; i < 50 && !(await expired()); i++) await sleep(100);
    assert.ok(await expired(), `number ${n} did not expire after maintenance ended`);
  });

  it('one pass reads on past the few batches one etcd read answers (only an empty page ends the trail)', async () => {
    const holder = { siteId: 'site-2', partitionId: 'partition-a' };
    // The forwarding instance would sweep them first: only this pass may.
    await forwarding?.dispose();
    forwarding = null;
    // 40 requests one after the other: 40 batches, more than one page of the etcd audit range.
    for (let i = 0; i < 40; i++) {
      const r = await http(committer.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    await sleep(1100);
    const { ExpirySweeper } = await import('../../src/service/expiry-sweeper.js');
    const series = await committer.opened.store.listSeries();
    const sweeper = new ExpirySweeper({
      store: committer.opened.store,
      series: async () => series.filter((name) => !name.startsWith('_')),
      timeoutMs: 1000,
      release: (name, records, cutoff) => committer.service.expire(name, records, cutoff, 1000),
      scanBudgetMs: 60_000,
    });
    assert.equal(await sweeper.sweep(), 40, 'one pass releases all 40');
  });
});
