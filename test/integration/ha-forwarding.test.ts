import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { spawnSeqd, type SeqdProcess } from '../helpers/seqd-process.js';
import { http } from '../helpers/seqd-server.js';

interface Next {
  numbers: number[];
}
interface AuditPage {
  events: { first: number; last: number; event: string; node: string }[];
}

const next = (url: string) =>
  http<Next>(url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 });

/** The node that committed the event holding `n`. */
async function committedBy(url: string, n: number): Promise<string | undefined> {
  const page = await http<AuditPage>(url, 'GET', `/api/v1/audit?number=${n}&limit=10`);
  return page.body.events.find((e) => e.event === 'issue' && e.first <= n && e.last >= n)?.node;
}

const missing = etcdMissing();

// Two instances on one series: the one with the larger node id sends its batches to the other,
// which commits them; when that one dies, the survivor commits itself.
describe('HA commit forwarding: two instances, one committing', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let dir: string;
  let a: SeqdProcess;
  let b: SeqdProcess;
  before(async () => {
    tc = await startTestCluster();
    dir = mkdtempSync(join(tmpdir(), 'seqd-fwd-'));
    const config = join(dir, 'ha.yml');
    writeFileSync(
      config,
      `sequence:\n  storage: etcd\n  etcd:\n    embedded: false\n    request-timeout-ms: 500\n    endpoints: [${tc.cluster.endpoints.map((e) => `"${e}"`).join(', ')}]\n`,
    );
    a = await spawnSeqd(['--config', config], { SEQ_DATA_DIR: join(dir, 'a'), SEQ_NODE_ID: 'seqd-a' });
    b = await spawnSeqd(['--config', config], { SEQ_DATA_DIR: join(dir, 'b'), SEQ_NODE_ID: 'seqd-b' });
  });
  after(async () => {
    a?.child.kill('SIGKILL');
    b?.child.kill('SIGKILL');
    await tc?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends the second instance's requests to the first, which commits them", async () => {
    let by: string | undefined;
    for (let i = 0; i < 50 && by !== 'seqd-a'; i++) {
      const r = await next(b.url);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      by = await committedBy(b.url, r.body.numbers[0] ?? 0);
      if (by !== 'seqd-a') await sleep(100);
    }
    assert.equal(by, 'seqd-a', 'requests to seqd-b are still committed by seqd-b after 5 s');
  });

  it('keeps numbers unique and consecutive under load on both instances', async () => {
    const got: number[] = [];
    const client = async (url: string) => {
      for (let i = 0; i < 60; i++) {
        const r = await next(url);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        got.push(...r.body.numbers);
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, i) => client(i % 2 === 0 ? a.url : b.url)));
    const sorted = [...got].sort((x, y) => x - y);
    assert.equal(new Set(sorted).size, sorted.length, 'a number was handed out twice');
    assert.deepEqual(sorted, sorted.map((_, i) => (sorted[0] ?? 0) + i), 'the numbers have a hole');
  });

  it('commits on the survivor when the committing instance is killed, and answers retries there', async () => {
    const keyedBody = { siteId: 'site-2', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 2 };
    const keyed = await http<Next>(a.url, 'POST', '/api/v1/sequence/next', keyedBody, { 'idempotency-key': 'ha-retry-1' });
    assert.equal(keyed.status, 200);
    const before = await next(b.url);
    assert.equal(before.status, 200);
    a.child.kill('SIGKILL');
    await a.exited;
    let first: number | undefined;
    for (let i = 0; i < 50 && first === undefined; i++) {
      const r = await next(b.url);
      if (r.status === 200) first = r.body.numbers[0];
      else assert.equal(r.status, 503, JSON.stringify(r.body));
    }
    assert.ok(first !== undefined, 'seqd-b never answered after seqd-a died');
    assert.equal(first, (before.body.numbers[0] ?? 0) + 1);
    assert.equal(await committedBy(b.url, first), 'seqd-b');
    // The client that asked seqd-a retries on seqd-b: same numbers, nothing new allocated.
    const retried = await http<Next & { replayed: boolean }>(b.url, 'POST', '/api/v1/sequence/next', keyedBody, { 'idempotency-key': 'ha-retry-1' });
    assert.equal(retried.status, 200);
    assert.deepEqual(retried.body.numbers, keyed.body.numbers);
    assert.equal(retried.body.replayed, true);
    assert.equal((await next(b.url)).body.numbers[0], first + 1);
    const verify = await http<{ valid: boolean }>(b.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true);
  });
});
