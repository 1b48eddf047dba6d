import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { sample } from '../helpers/prometheus.js';

const missing = etcdMissing();
const holder = { siteId: 'site-1', partitionId: 'partition-a' };
const BEFORE = Date.parse('2026-12-31T23:59:00Z');
const AFTER = Date.parse('2027-01-01T00:10:00Z');

// Two instances on one etcd cluster, both running the rollover closer on an injected clock.
describe('yearly rollover on etcd with two instances', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let a: TestServer;
  let b: TestServer;
  let clock = BEFORE;
  before(async () => {
    tc = await startTestCluster();
    const sequence = {
      storage: 'etcd',
      series: { 'split-by': ['site'], rollover: { enabled: true, 'close-after-seconds': 60 } },
      etcd: { embedded: false, endpoints: tc.cluster.endpoints },
    };
    a = await startTestServer({ sequence: { ...sequence, 'node-id': 'roll-a' } }, undefined, { now: () => clock });
    b = await startTestServer({ sequence: { ...sequence, 'node-id': 'roll-b' } }, undefined, { now: () => clock });
  });
  after(async () => {
    await a?.dispose();
    await b?.dispose();
    await tc?.dispose();
  });

  it('moves to the new year on both instances and closes the old series exactly once', async () => {
    const next = (url: string) => http<{ series: string; numbers: number[] }>(url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    const old = [await next(a.url), await next(b.url), await next(a.url)];
    assert.deepEqual(old.map((r) => [r.body.series, r.body.numbers[0]]), [['site-1@2026', 1], ['site-1@2026', 2], ['site-1@2026', 3]]);
    await http(b.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 2, ...holder, reason: 'cancelled' });
    clock = AFTER;
    const fresh = await next(b.url);
    assert.deepEqual([fresh.body.series, fresh.body.numbers], ['site-1@2027', [1]]);
    const closed = await Promise.all([a.rollover?.tick(), b.rollover?.tick()]);
    assert.deepEqual(closed.flat(), ['site-1@2026'], 'one instance closed it, the other found it closed');
    const events = await http<{ events: { event: string }[] }>(a.url, 'GET', '/api/v1/audit?series=site-1@2026&event=close');
    assert.equal(events.body.events.length, 1);
    const report = await http<{ status: string; voidGaps: number; openGaps: number }>(b.url, 'GET', '/api/v1/sequence/series/site-1@2026');
    assert.deepEqual([report.body.status, report.body.voidGaps, report.body.openGaps], ['closed', 1, 0]);
    const verify = await http<{ valid: boolean; reports: { series: string }[] }>(a.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true);
    assert.deepEqual(verify.body.reports.map((r) => r.series), ['_settings', 'site-1@2026', 'site-1@2027']);
  });

  it('shows every series and the health of each etcd member in /metrics', async () => {
    const text = await (await fetch(`${b.url}/metrics`)).text();
    assert.equal(sample(text, 'seqd_series_closed', { series: 'site-1@2026' }), 1);
    assert.equal(sample(text, 'seqd_series_high_water_mark', { series: 'site-1@2027' }), 1);
    const up = text.split('\n').filter((l) => l.startsWith('seqd_etcd_member_up{'));
    assert.equal(up.length, 3, up.join('\n'));
    assert.ok(up.every((l) => l.endsWith(' 1')), up.join('\n'));
    assert.equal(text.split('\n').filter((l) => l.startsWith('seqd_etcd_member_is_leader{') && l.endsWith(' 1')).length, 1);
    assert.ok((sample(text, 'seqd_etcd_raft_term') ?? 0) >= 1);
    // With commit forwarding, roll-a (the smallest node id) committed every batch.
    const committer = await (await fetch(`${a.url}/metrics`)).text();
    assert.ok((sample(committer, 'seqd_store_commit_duration_seconds_count', { store: 'etcd' }) ?? 0) >= 4);
  });
});
