import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rng } from '../helpers/rng.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

const CLIENTS = 50;
const TARGET_NUMBERS = 10_000;
const SITES = [
  ['site-1', 'partition-a'],
  ['site-1', 'partition-b'],
  ['site-2', 'partition-a'],
  ['site-2', 'partition-b'],
] as const;
const TYPES = ['on-cycle', 'on-cycle', 'off-cycle', 'simulated', 'suppressed'] as const;

interface Next {
  numbers: number[];
  status: string;
}
interface AuditEvent {
  seq: number;
  event: string;
  first: number;
  last: number;
}


describe(`concurrency: ${CLIENTS} clients, ${TARGET_NUMBERS} numbers over HTTP, mixed types and releases`, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s.dispose());

  it('hands no number out twice without a release, keeps continuity and a valid audit trail', async () => {
    const seed = Number(process.env.SEQD_TEST_SEED ?? Date.now() % 100000);
    const acquired = new Map<number, number>();
    const released = new Map<number, number>();
    let numbersTaken = 0;
    let maxAcked = 0;
    const bump = (m: Map<number, number>, n: number) => m.set(n, (m.get(n) ?? 0) + 1);

    const client = async (id: number) => {
      const random = rng(seed * 1000 + id);
      const held: { n: number; site: string; partition: string }[] = [];
      while (numbersTaken < TARGET_NUMBERS) {
        const [site, partition] = SITES[Math.floor(random() * SITES.length)] ?? SITES[0];
        if (held.length > 0 && random() < 0.1) {
          const h = held.splice(Math.floor(random() * held.length), 1)[0];
          if (!h) continue;
          const r = await http(s.url, 'POST', '/api/v1/sequence/release', {
            sequenceNumber: h.n,
            siteId: h.site,
            partitionId: h.partition,
            reason: `client-${id}`,
          });
          assert.equal(r.status, 200, `seed ${seed}: release ${h.n}: ${JSON.stringify(r.body)}`);
          bump(released, h.n);
          continue;
        }
        const invoiceType = TYPES[Math.floor(random() * TYPES.length)] ?? 'on-cycle';
        const count = random() < 0.1 ? 1 + Math.floor(random() * 5) : 1;
        const r = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', { siteId: site, partitionId: partition, invoiceType, count });
        assert.equal(r.status, 200, `seed ${seed}: next: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.numbers.length, count);
        numbersTaken += count;
        for (const n of r.body.numbers) {
          bump(acquired, n);
          maxAcked = Math.max(maxAcked, n);
          if (invoiceType === 'suppressed') bump(released, n);
          else held.push({ n, site, partition });
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    assert.ok(numbersTaken >= TARGET_NUMBERS);

    // Uniqueness: a number is acquired again only after it was released.
    for (const [n, times] of acquired) {
      const r = released.get(n) ?? 0;
      assert.ok(times <= r + 1, `seed ${seed}: number ${n} acquired ${times} times but released only ${r} times`);
    }

    // The audit trail records exactly the acquisitions and releases the clients saw.
    const auditAcq = new Map<number, number>();
    const auditRel = new Map<number, number>();
    let cursor = 0;
    for (;;) {
      const page = await http<{ events: AuditEvent[]; nextCursor: number | null }>(
        s.url,
        'GET',
        `/api/v1/audit?order=asc&limit=1000&cursor=${cursor}`,
      );
      for (const e of page.body.events) {
        const target = e.event === 'issue' || e.event === 'refill' ? auditAcq : e.event === 'release' ? auditRel : null;
        if (target) for (let n = e.first; n <= e.last; n++) bump(target, n);
      }
      if (page.body.nextCursor === null) break;
      cursor = page.body.nextCursor;
    }
    assert.deepEqual([...auditAcq].sort((a, b) => a[0] - b[0]), [...acquired].sort((a, b) => a[0] - b[0]), `seed ${seed}: acquisitions`);
    assert.deepEqual([...auditRel].sort((a, b) => a[0] - b[0]), [...released].sort((a, b) => a[0] - b[0]), `seed ${seed}: releases`);

    // Continuity: every number from 1 to the HWM was acknowledged to someone; the chain verifies.
    const stats = await http<{ highWaterMark: number }>(s.url, 'GET', '/api/v1/sequence/stats');
    assert.equal(stats.body.highWaterMark, maxAcked);
    for (let n = 1; n <= maxAcked; n++) assert.ok(acquired.has(n), `seed ${seed}: number ${n} was never handed out`);
    const verify = await http<{ valid: boolean; continuity: { problem: string | null } }>(s.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true, `seed ${seed}: ${verify.body.continuity.problem}`);
  });
});
