import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

const missing = etcdMissing();
const SKEW_MS = 60_000;
const TIMEOUT_S = 30;
const holder = { siteId: 'site-1', partitionId: 'partition-a' };

/**
 * Two instances on one etcd cluster whose clocks disagree by a minute (issue 12, item 7): the one
 * ahead must not expire reservations early, and the series' clock never runs back.
 */
describe('skewed instance clocks on etcd', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let dir: string;
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    tc = await startTestCluster();
    dir = mkdtempSync(join(tmpdir(), 'seqd-skew-etcd-'));
    const etcd = { storage: 'etcd', etcd: { embedded: false, 'request-timeout-ms': 500, endpoints: tc.cluster.endpoints } };
    const core = { 'reservation-timeout-seconds': TIMEOUT_S };
    // seqd-a commits for both (smallest node id); seqd-b's clock is a minute ahead.
    a = await startTestServer({ sequence: { ...etcd, core, 'node-id': 'seqd-a' } }, join(dir, 'a'));
    b = await startTestServer({ sequence: { ...etcd, core, 'node-id': 'seqd-b' } }, join(dir, 'b'), { now: () => Date.now() + SKEW_MS });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await tc?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a sweep on the instance ahead expires nothing that is not due on the series clock', async () => {
    const got: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await http<{ numbers: number[] }>(i % 2 ? a.url : b.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      got.push(...r.body.numbers);
    }
    // What b's sweeper does: by its clock every reservation is already due.
    const records = await b.opened.store.lookupNumbers('global', got);
    const cutoff = Date.now() + SKEW_MS - TIMEOUT_S * 1000;
    const due = [...records.values()].filter((r) => r.changedAt <= cutoff);
    assert.equal(due.length, got.length, 'by the clock ahead, all four look due');
    // Forwarded to the committing instance (or planned on the series clock): none is released.
    let expired = 0;
    for (let i = 0; i < 20 && expired === 0; i++) {
      expired = (await b.service.expire('global', due, cutoff, TIMEOUT_S * 1000)).released;
      await sleep(50);
    }
    assert.equal(expired, 0, 'reservations expired early by the instance whose clock is ahead');
    const gaps = await http<{ openGaps: number }>(a.url, 'GET', '/api/v1/sequence/gaps');
    assert.equal(gaps.body.openGaps, 0);
  });

  it("events are stamped on the series' clock: never earlier than the series' last event", async () => {
    const trail = await http<{ events: { seq: number; timestamp: string }[] }>(a.url, 'GET', '/api/v1/audit?order=asc&limit=1000');
    const times = trail.body.events.map((e) => Date.parse(e.timestamp));
    for (let i = 1; i < times.length; i++) assert.ok((times[i] ?? 0) >= (times[i - 1] ?? 0), `event ${i + 1} is stamped before event ${i}`);
    const verify = await http<{ valid: boolean }>(a.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true);
  });
});
