import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

const HOLDER = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
const missing = etcdMissing();

interface Answer {
  numbers?: number[];
  error?: { code: string; message: string };
}

/**
 * Maintenance on two HA instances without forwarding: switched on through one, the other refuses
 * at once, before its settings refresh could have told it (the refusal comes from the commit),
 * and so does every kind of change; both switches are in the audit trail.
 */
describe('maintenance mode', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let a: TestServer;
  let b: TestServer;

  before(async () => {
    tc = await startTestCluster();
    const sequence = { storage: 'etcd', etcd: { embedded: false, endpoints: tc.cluster.endpoints, 'forward-commits': false } };
    a = await startTestServer({ sequence: { ...sequence, 'node-id': 'maint-a' } });
    b = await startTestServer({ sequence: { ...sequence, 'node-id': 'maint-b' } });
  });
  after(async () => {
    await a?.dispose();
    await b?.dispose();
    await tc?.dispose();
  });

  it('refuses bad input to the switch and changes nothing', async () => {
    for (const body of [{ enabled: 'yes', reason: 'x' }, { enabled: true }, { enabled: true, reason: '' }, { enabled: true, reason: 'x', extra: 1 }]) {
      const r = await http<Answer>(a.url, 'POST', '/api/v1/admin/maintenance', body);
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    assert.equal((await http<{ maintenance?: boolean }>(a.url, 'GET', '/api/v1/settings')).body.maintenance, false);
  });

  it('switched on through one instance, the other refuses every change at once with 503 MAINTENANCE; switched off, both issue again', async () => {
    const before = await http<Answer>(b.url, 'POST', '/api/v1/sequence/next', HOLDER);
    const held = before.body.numbers?.[0];
    assert.ok(held !== undefined);
    const on = await runCli(['maintenance', 'on', '--reason', 'moving to the new cluster', '--url', a.url]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /maintenance is on/);
    // b's settings are refreshed every 2 s: answered before that, the refusal is the store's.
    const refused = [
      await http<Answer>(b.url, 'POST', '/api/v1/sequence/next', HOLDER),
      await http<Answer>(b.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: held, siteId: 'site-1', partitionId: 'partition-a', reason: 'cancelled' }),
      await http<Answer>(b.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: held, siteId: 'site-1', partitionId: 'partition-a' }),
      await http<Answer>(a.url, 'POST', '/api/v1/sequence/next', HOLDER),
    ];
    for (const r of refused) {
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.error?.code, 'MAINTENANCE');
    }
    const off = await runCli(['maintenance', 'off', '--reason', 'move called off', '--url', b.url]);
    assert.equal(off.code, 0, off.stderr);
    const after = await http<Answer>(a.url, 'POST', '/api/v1/sequence/next', HOLDER);
    assert.equal(after.status, 200);
    assert.equal(after.body.numbers?.[0], held + 1, 'nothing was issued while maintenance was on');
    const audit = await http<{ events: { event: string; reason: string | null }[] }>(a.url, 'GET', '/api/v1/audit?series=global&event=setting&order=desc&limit=5');
    const reasons = audit.body.events.map((e) => e.reason);
    assert.deepEqual(reasons.slice(0, 2), ['maintenance=off: move called off', 'maintenance=on: moving to the new cluster']);
    const verify = await http<{ valid: boolean }>(a.url, 'GET', '/api/v1/audit/verify?series=global');
    assert.equal(verify.body.valid, true);
  });
});
