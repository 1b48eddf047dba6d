import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

interface Next {
  sequenceNumber: number;
  numbers: number[];
  series: string;
  siteId: string;
  partitionId: string;
  invoiceType: string;
  refilled: number[];
  status: string;
  node: string;
  timestamp: string;
}
interface Stats {
  highWaterMark: number;
  series: { name: string; highWaterMark: number; openGaps: number; refilled: number }[];
  totals: { bySite: Record<string, { issued: number }>; byType: Record<string, { issued: number }> };
  performance: { last60s: { latencyMs: { avg: number; p50: number; p95: number; p99: number } } };
  store: { kind: string; healthy: boolean };
}
interface Gaps {
  gaps: { sequenceNumber: number; status: string; reason: string; siteId: string; partitionId: string; releasedAt: string }[];
  openGaps: number;
}
interface Audit {
  events: { seq: number; event: string; first: number; last: number; siteId: string; reason: string; hash: string; prevHash: string }[];
  nextCursor: number | null;
}
interface Verify {
  valid: boolean;
  eventsChecked: number;
  firstInvalidEvent: unknown;
  continuity: { valid: boolean; highWaterMark: number };
}
interface Demo {
  demo: string;
  steps: { step: number; title: string }[];
  verification: { passed: boolean; checks: { name: string; passed: boolean }[] };
  summary: Record<string, unknown>;
}

describe('HTTP API on the embedded store', () => {
  let s: TestServer;
  let B: string;
  before(async () => {
    s = await startTestServer();
    B = s.url;
  });
  after(async () => s.dispose());

  describe("the seed's curl commands", () => {
    it('GET next (browser-friendly)', async () => {
      const r = await http<Next>(B, 'GET', '/api/v1/sequence/next?siteId=site-1&partitionId=partition-a&invoiceType=on-cycle');
      assert.equal(r.status, 200);
      assert.equal(r.body.sequenceNumber, 1);
      assert.deepEqual(r.body.numbers, [1]);
      assert.equal(r.body.series, 'global');
      assert.deepEqual(r.body.refilled, []);
      assert.equal(r.body.siteId, 'site-1');
      assert.equal(r.body.partitionId, 'partition-a');
      assert.equal(r.body.invoiceType, 'on-cycle');
      assert.equal(typeof r.body.node, 'string');
      assert.ok(!Number.isNaN(Date.parse(r.body.timestamp)));
    });

    it('POST next with a JSON body', async () => {
      const r = await http<Next>(B, 'POST', '/api/v1/sequence/next', {
        siteId: 'site-1',
        partitionId: 'partition-a',
        invoiceType: 'on-cycle',
        count: 1,
      });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.numbers, [2]);
    });

    it('POST release creates a gap, and the next request refills it', async () => {
      await http(B, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 3 });
      const r = await http<{ sequenceNumber: number; status: string; reason: string }>(B, 'POST', '/api/v1/sequence/release', {
        sequenceNumber: 5,
        siteId: 'site-1',
        partitionId: 'partition-a',
        reason: 'suppressed-bill',
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, 'open');
      const gaps = await http<Gaps>(B, 'GET', '/api/v1/sequence/gaps');
      assert.deepEqual(
        gaps.body.gaps.map((g) => [g.sequenceNumber, g.status, g.reason, g.siteId, g.partitionId]),
        [[5, 'open', 'suppressed-bill', 'site-1', 'partition-a']],
      );
      assert.ok(!Number.isNaN(Date.parse(gaps.body.gaps[0]?.releasedAt ?? '')));
      const next = await http<Next>(B, 'GET', '/api/v1/sequence/next?siteId=site-2&partitionId=partition-b&invoiceType=off-cycle');
      assert.deepEqual(next.body.numbers, [5]);
      assert.deepEqual(next.body.refilled, [5]);
      assert.equal((await http<Gaps>(B, 'GET', '/api/v1/sequence/gaps')).body.gaps.length, 0);
    });

    it('GET stats', async () => {
      const r = await http<Stats>(B, 'GET', '/api/v1/sequence/stats');
      assert.equal(r.status, 200);
      assert.equal(r.body.highWaterMark, 5);
      assert.equal(r.body.series[0]?.name, 'global');
      assert.equal(r.body.series[0]?.highWaterMark, 5);
      assert.equal(r.body.series[0]?.refilled, 1);
      assert.equal(r.body.totals.bySite['site-1']?.issued, 5);
      assert.equal(r.body.totals.bySite['site-2']?.issued, 1);
      assert.equal(r.body.totals.byType['off-cycle']?.issued, 1);
      const lat = r.body.performance.last60s.latencyMs;
      assert.ok(lat.p50 > 0 && lat.p50 <= lat.p95 && lat.p95 <= lat.p99, JSON.stringify(lat));
      assert.deepEqual([r.body.store.kind, r.body.store.healthy], ['sqlite', true]);
    });

    it('POST demo/basic', async () => {
      const r = await http<Demo>(B, 'POST', '/api/v1/demo/basic');
      assert.equal(r.status, 200);
      assert.equal(r.body.demo, 'basic');
      assert.equal(r.body.steps.length, 2 * 2 * 3, 'sites × partitions × delivered types');
      assert.equal(r.body.verification.passed, true, JSON.stringify(r.body.verification));
    });

    it('POST demo/concurrent?threads=4&requestsPerThread=25', async () => {
      const r = await http<Demo>(B, 'POST', '/api/v1/demo/concurrent?threads=4&requestsPerThread=25');
      assert.equal(r.status, 200);
      assert.equal(r.body.summary.numbers, 100);
      assert.equal(r.body.verification.passed, true, JSON.stringify(r.body.verification));
    });

    it('POST demo/gaps', async () => {
      const r = await http<Demo>(B, 'POST', '/api/v1/demo/gaps');
      assert.equal(r.status, 200);
      assert.ok(r.body.steps.length >= 5);
      assert.equal(r.body.verification.passed, true, JSON.stringify(r.body.verification));
      assert.equal(r.body.verification.checks.find((c) => c.name === 'gaps refilled lowest first')?.passed, true);
    });

    it('POST demo/load-test?totalRequests=1000&concurrentThreads=10', async () => {
      const r = await http<Demo>(B, 'POST', '/api/v1/demo/load-test?totalRequests=1000&concurrentThreads=10');
      assert.equal(r.status, 200);
      assert.equal(r.body.summary.succeeded, 1000);
      assert.ok(Number(r.body.summary.throughputPerSecond) > 0);
      assert.equal(r.body.verification.passed, true, JSON.stringify(r.body.verification));
    });
  });

  describe('audit trail', () => {
    it('lists events newest first, pages with a cursor and filters', async () => {
      const first = await http<Audit>(B, 'GET', '/api/v1/audit?limit=3');
      assert.equal(first.status, 200);
      assert.equal(first.body.events.length, 3);
      const seqs = first.body.events.map((e) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a));
      assert.equal(first.body.events[0]?.prevHash, first.body.events[1]?.hash);
      const second = await http<Audit>(B, 'GET', `/api/v1/audit?limit=3&cursor=${first.body.nextCursor}`);
      assert.equal(second.body.events[0]?.seq, (seqs[2] ?? 0) - 1);

      const byNumber = await http<Audit>(B, 'GET', '/api/v1/audit?number=5&order=asc');
      assert.deepEqual(byNumber.body.events.map((e) => e.event), ['issue', 'release', 'refill']);
      const releases = await http<Audit>(B, 'GET', '/api/v1/audit?event=release&limit=1000');
      assert.ok(releases.body.events.length >= 1 && releases.body.events.every((e) => e.event === 'release'));
      const site2 = await http<Audit>(B, 'GET', '/api/v1/audit?siteId=site-2&partitionId=partition-b&invoiceType=off-cycle&number=5');
      assert.ok(site2.body.events.some((e) => e.first === 5));
      const future = await http<Audit>(B, 'GET', '/api/v1/audit?from=2999-01-01T00:00:00Z');
      assert.equal(future.body.events.length, 0);
    });

    it('verifies the hash chain and continuity from the start to the HWM', async () => {
      const r = await http<Verify>(B, 'GET', '/api/v1/audit/verify');
      assert.equal(r.status, 200);
      assert.equal(r.body.valid, true);
      assert.equal(r.body.firstInvalidEvent, null);
      assert.ok(r.body.eventsChecked > 10);
      const stats = await http<Stats>(B, 'GET', '/api/v1/sequence/stats');
      assert.equal(r.body.continuity.highWaterMark, stats.body.highWaterMark);
    });
  });

  describe('invoice types and settings', () => {
    it('suppressed requests are issued and released at once (reason suppressed)', async () => {
      const r = await http<Next>(B, 'POST', '/api/v1/sequence/next', { siteId: 'site-2', partitionId: 'partition-a', invoiceType: 'suppressed' });
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'released');
      const gaps = await http<Gaps>(B, 'GET', '/api/v1/sequence/gaps?status=open');
      assert.deepEqual(gaps.body.gaps.map((g) => [g.sequenceNumber, g.reason]), [[r.body.sequenceNumber, 'suppressed']]);
      const refill = await http<Next>(B, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-b', invoiceType: 'on-cycle' });
      assert.deepEqual(refill.body.refilled, [r.body.sequenceNumber]);
    });

    it('the simulated toggle turns the type off (409 naming the field) and back on, audited', async () => {
      const off = await http<{ simulatedEnabled: boolean }>(B, 'PUT', '/api/v1/settings', { simulatedEnabled: false, reason: 'month-end' });
      assert.equal(off.status, 200);
      assert.equal(off.body.simulatedEnabled, false);
      const refused = await http<ErrorBody>(B, 'GET', '/api/v1/sequence/next?siteId=site-1&partitionId=partition-a&invoiceType=simulated');
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error.code, 'INVOICE_TYPE_DISABLED');
      assert.equal(refused.body.error.field, 'invoiceType');
      assert.ok(!refused.body.error.allowed?.includes('simulated'));
      const on = await http<{ simulatedEnabled: boolean }>(B, 'PUT', '/api/v1/settings', { simulatedEnabled: true });
      assert.equal(on.body.simulatedEnabled, true);
      const ok = await http<Next>(B, 'GET', '/api/v1/sequence/next?siteId=site-1&partitionId=partition-a&invoiceType=simulated');
      assert.equal(ok.status, 200);
      const audit = await http<Audit>(B, 'GET', '/api/v1/audit?event=setting');
      assert.deepEqual(audit.body.events.map((e) => e.reason), ['simulatedEnabled=true: changed through the API', 'simulatedEnabled=false: month-end']);
      assert.equal((await http<{ simulatedEnabled: boolean }>(B, 'GET', '/api/v1/settings')).body.simulatedEnabled, true);
    });

    it('count takes several numbers in one request', async () => {
      const r = await http<Next>(B, 'GET', '/api/v1/sequence/next?siteId=site-1&partitionId=partition-a&invoiceType=on-cycle&count=100');
      assert.equal(r.body.numbers.length, 100);
      assert.equal(r.body.numbers[99], (r.body.numbers[0] ?? 0) + 99);
    });
  });

  describe('releases that are impossible', () => {
    const rel = (n: number, siteId = 'site-1', partitionId = 'partition-a') =>
      http<ErrorBody>(B, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, siteId, partitionId, reason: 'test' });

    it('404 for a number never issued', async () => {
      const r = await rel(10_000_000);
      assert.equal(r.status, 404);
      assert.equal(r.body.error.code, 'NUMBER_NOT_ISSUED');
      assert.equal(r.body.error.field, 'sequenceNumber');
    });
    it('409 for a number already released', async () => {
      await http(B, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' });
      const stats = await http<Stats>(B, 'GET', '/api/v1/sequence/stats');
      const n = stats.body.highWaterMark;
      assert.equal((await rel(n)).status, 200);
      const again = await rel(n);
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'NUMBER_ALREADY_RELEASED');
    });
    it('409 for a number held by another site or partition', async () => {
      const got = await http<Next>(B, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' });
      const n = got.body.sequenceNumber;
      const other = await rel(n, 'site-2', 'partition-a');
      assert.equal(other.status, 409);
      assert.equal(other.body.error.code, 'HOLDER_MISMATCH');
      assert.equal(other.body.error.field, 'siteId');
      const otherPartition = await rel(n, 'site-1', 'partition-b');
      assert.equal(otherPartition.body.error.field, 'partitionId');
    });
  });

  describe('HA-only endpoints on the embedded store', () => {
    it('the failover demo is refused with a clear error', async () => {
      const r = await http<ErrorBody>(B, 'POST', '/api/v1/demo/failover');
      assert.equal(r.status, 409);
      assert.equal(r.body.error.code, 'DEMO_UNAVAILABLE');
      assert.match(r.body.error.message, /etcd/);
    });
  });

  describe('health', () => {
    it('/health and /ready', async () => {
      const h = await http<{ status: string }>(B, 'GET', '/health');
      assert.deepEqual([h.status, h.body.status], [200, 'UP']);
      const r = await http<{ status: string }>(B, 'GET', '/ready');
      assert.deepEqual([r.status, r.body.status], [200, 'READY']);
    });
    it('unknown routes answer 404 in the error shape', async () => {
      const r = await http<ErrorBody>(B, 'GET', '/api/v1/nope');
      assert.equal(r.status, 404);
      assert.equal(r.body.error.code, 'NOT_FOUND');
    });
  });
});
