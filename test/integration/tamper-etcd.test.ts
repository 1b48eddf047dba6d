import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { decodeAudit, encodeAudit, keys } from '../../src/storage/etcd/etcd-codec.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface Verify {
  valid: boolean;
  firstInvalidEvent: { seq: number; problem: string } | null;
  derived: { valid: boolean; requestsChecked: number; problems: string[] };
}

const missing = etcdMissing();

describe('audit verify detects an event edited straight in etcd', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let s: TestServer;
  before(async () => {
    tc = await startTestCluster();
    s = await startTestServer({ sequence: { storage: 'etcd', etcd: { embedded: false, endpoints: tc.cluster.endpoints } } });
  });
  after(async () => {
    await s?.dispose();
    await tc?.dispose();
  });

  // Runs first: it puts the record back, so the trail is valid again for the next test.
  it('verifies the derived tables of a clean history, and reports an idempotency record edited in etcd', async () => {
    const A = { siteId: 'site-1', partitionId: 'partition-a' };
    const B = { siteId: 'site-2', partitionId: 'partition-b' };
    const act = async (path: string, body: Record<string, unknown>, key?: string) => {
      const r = await http<{ numbers: number[] }>(s.url, 'POST', `/api/v1/sequence/${path}`, body, key ? { 'idempotency-key': key } : {});
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.numbers;
    };
    assert.deepEqual(await act('next', { ...A, invoiceType: 'on-cycle', count: 2 }, 'etcd-k1'), [1, 2]);
    await act('next', { ...A, invoiceType: 'on-cycle', count: 2 });
    await act('release', { sequenceNumber: 3, ...A, reason: 'x' });
    await act('confirm', { sequenceNumber: 1, ...A });
    // Event 5 (a refill by site-1) is the one the next test edits to site-2.
    assert.deepEqual(await act('next', { ...A, invoiceType: 'suppressed', count: 1 }), [3]);
    assert.deepEqual(await act('next', { ...B, invoiceType: 'on-cycle', count: 1 }), [3]);
    await act('confirm', { sequenceNumber: 3, ...B });
    assert.deepEqual(await act('next', { ...A, invoiceType: 'off-cycle', count: 2 }, 'etcd-k2'), [5, 6]);
    await act('release', { sequenceNumber: 4, ...A, reason: 'y' });
    const clean = (await http<Verify>(s.url, 'GET', '/api/v1/audit/verify')).body;
    assert.deepEqual([clean.valid, clean.derived.requestsChecked], [true, 2], JSON.stringify(clean));

    const client = new Etcd3({ hosts: tc.cluster.endpoints.map((e) => e.replace(/^https?:\/\//, '')) });
    try {
      const key = keys.request('etcd-k1').toString();
      const original = await client.get(key).string();
      assert.ok(original, 'the key has a record');
      await client.put(key).value(JSON.stringify({ ...(JSON.parse(original) as object), n: [[7, 8]] }));
      const r2 = (await http<Verify>(s.url, 'GET', '/api/v1/audit/verify')).body;
      assert.deepEqual([r2.valid, r2.firstInvalidEvent, r2.derived.valid], [false, null, false]);
      assert.match(r2.derived.problems.join('\n'), /idempotency key "etcd-k1" \(events \d+-\d+\): numbers \[7-8\] stored, \[1-2\] by the trail/);
      await client.put(key).value(original);
    } finally {
      client.close();
    }
  });

  it('names the edited event', async () => {
    for (let i = 0; i < 8; i++) {
      const r = await http(s.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 2 });
      assert.equal(r.status, 200);
    }
    assert.equal((await http<Verify>(s.url, 'GET', '/api/v1/audit/verify')).body.valid, true, 'valid before tampering');

    // The record holding event 5 is the first audit key at or after seq 5 (keys name a batch's last seq).
    const client = new Etcd3({ hosts: tc.cluster.endpoints.map((e) => e.replace(/^https?:\/\//, '')) });
    try {
      const prefix = keys.auditPrefix('global');
      const res = await client.getAll().prefix(prefix.toString()).exec();
      const kv = res.kvs.find((k) => decodeAudit(k.value).events.some((e) => e.seq === 5));
      assert.ok(kv, 'an audit record holds event 5');
      const events = decodeAudit(kv.value).events.map((e) => (e.seq === 5 ? { ...e, siteId: 'site-2' } : e));
      await client.put(kv.key).value(encodeAudit(events));
    } finally {
      client.close();
    }

    const r = (await http<Verify>(s.url, 'GET', '/api/v1/audit/verify')).body;
    assert.equal(r.valid, false);
    assert.equal(r.firstInvalidEvent?.seq, 5);
    assert.match(r.firstInvalidEvent?.problem ?? '', /hash/);
  });
});
