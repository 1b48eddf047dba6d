import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { decodeAudit, encodeAudit, keys } from '../../src/storage/etcd/etcd-codec.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface Verify {
  valid: boolean;
  firstInvalidEvent: { seq: number; problem: string } | null;
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
