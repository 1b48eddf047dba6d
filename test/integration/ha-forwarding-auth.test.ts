import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { spawnSeqd, type SeqdProcess } from '../helpers/seqd-process.js';
import { http } from '../helpers/seqd-server.js';

const missing = etcdMissing();
const BILLING = 'billing-key-0123456789abcdef';
const PEERS = 'peers-key-0123456789abcdef';
const auth = { authorization: `Bearer ${BILLING}` };

/** The issue event of `n`, from the audit trail: the node that committed it, and who asked. */
async function issueOf(url: string, n: number): Promise<{ node: string; actor: string | null } | undefined> {
  const page = await http<{ events: { first: number; last: number; event: string; node: string; actor: string | null }[] }>(url, 'GET', `/api/v1/audit?number=${n}&limit=10`, undefined, auth);
  return page.body.events.find((e) => e.event === 'issue' && e.first <= n && e.last >= n);
}
const committedBy = async (url: string, n: number) => (await issueOf(url, n))?.node;

// Keys enforced on three instances: the forward route needs the internal role. An instance with
// the key forwards; one without it is refused (401) and commits itself, safely.
describe('HA commit forwarding with API keys', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let dir: string;
  const procs: SeqdProcess[] = [];
  before(async () => {
    tc = await startTestCluster();
    dir = mkdtempSync(join(tmpdir(), 'seqd-fwd-auth-'));
    const config = join(dir, 'ha.yml');
    writeFileSync(
      config,
      `sequence:\n  storage: etcd\n  etcd:\n    embedded: false\n    request-timeout-ms: 500\n    endpoints: [${tc.cluster.endpoints.map((e) => `"${e}"`).join(', ')}]\n`,
    );
    const keys = `billing:allocate:${BILLING},peers:internal:${PEERS}`;
    for (const [node, forwardKey] of [['k-a', PEERS], ['k-b', PEERS], ['k-c', '']] as const) {
      const env: Record<string, string> = { SEQ_DATA_DIR: join(dir, node), SEQ_NODE_ID: node, SEQD_API_KEYS: keys };
      if (forwardKey) env.SEQD_FORWARD_KEY = forwardKey;
      procs.push(await spawnSeqd(['--config', config], env));
    }
  });
  after(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await tc?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards with the internal key, commits locally when refused, and every request succeeds', async () => {
    const [a, b, c] = procs;
    assert.ok(a && b && c);
    const take = async (url: string) => {
      const r = await http<{ numbers: number[] }>(url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' }, auth);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.numbers[0] ?? 0;
    };
    // The registry needs a moment to list every instance.
    let byB: { node: string; actor: string | null } | undefined;
    for (let i = 0; i < 50 && byB?.node !== 'k-a'; i++) {
      byB = await issueOf(b.url, await take(b.url));
      if (byB?.node !== 'k-a') await sleep(100);
    }
    assert.equal(byB?.node, 'k-a', 'b forwards to a with its internal key');
    assert.equal(byB.actor, 'billing', 'the forwarded request keeps the name of the key it came with, not the peers key');
    let byC: string | undefined;
    for (let i = 0; i < 5; i++) byC = await committedBy(c.url, await take(c.url));
    assert.equal(byC, 'k-c', 'c has no internal key: a refuses it and c commits itself');
    const verify = await http<{ valid: boolean }>(a.url, 'GET', '/api/v1/audit/verify', undefined, auth);
    assert.equal(verify.body.valid, true);
  });
});
