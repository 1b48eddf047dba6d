import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { rng } from '../helpers/rng.js';
import type { EtcdCluster } from '../../src/cluster/etcd-cluster.js';
import { memberHealthy } from '../../src/cluster/etcd-cluster.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { spawnSeqd, type SeqdProcess } from '../helpers/seqd-process.js';

/**
 * Fault injection against a real 3-member etcd cluster and two seqd instances (child processes)
 * under load from 16 clients. Every request is recorded as ok / failed / unknown; the checker then
 * holds the audit trail to what clients were told. Seeds: SEQD_FAULT_SEEDS="1,2" replays them.
 */
const CLIENTS = 16;
const REQUEST_TIMEOUT_MS = 4000;
const SEEDS = (process.env.SEQD_FAULT_SEEDS ?? `${Date.now() % 100000},${(Date.now() * 7) % 100000}`)
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n));

type Outcome = 'ok' | 'failed' | 'unknown';
interface Rec {
  readonly kind: 'next' | 'release';
  readonly client: number;
  readonly instance: number;
  readonly start: number;
  end: number;
  outcome: Outcome;
  numbers: number[];
  site: string;
  partition: string;
}
interface Fault {
  readonly name: string;
  readonly start: number;
  end: number;
  /** Time after which no request may succeed until `end` (quorum lost), if any. */
  closedFrom?: number;
}


async function leaderName(cluster: EtcdCluster): Promise<string | null> {
  for (const m of cluster.members) {
    try {
      const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
      const s = (await res.json()) as { header?: { member_id?: string }; leader?: string };
      if (s.leader && s.leader === s.header?.member_id) return m.name;
    } catch {
      // member down or paused
    }
  }
  return null;
}

async function waitLeader(cluster: EtcdCluster, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = await leaderName(cluster);
    if (l) return l;
    if (Date.now() > deadline) throw new Error('no etcd leader');
    await sleep(100);
  }
}

const missing = etcdMissing();

describe('HA fault injection: 3 etcd members, 2 seqd instances, 16 clients', { skip: missing ?? false }, () => {
  for (const seed of SEEDS) {
    describe(`seed ${seed}`, () => {
      let tc: TestCluster;
      let dir: string;
      let configFile: string;
      const instances: (SeqdProcess | null)[] = [null, null];
      const startInstance = async (i: number) => {
        instances[i] = await spawnSeqd(['--config', configFile], { SEQ_DATA_DIR: join(dir, `node-${i}`), SEQ_NODE_ID: `seqd-${i + 1}` });
      };

      before(async () => {
        tc = await startTestCluster({ heartbeatMs: 100, electionMs: 1000 });
        dir = mkdtempSync(join(tmpdir(), 'seqd-ha-'));
        configFile = join(dir, 'ha.yml');
        writeFileSync(
          configFile,
          `sequence:\n  storage: etcd\n  etcd:\n    embedded: false\n    request-timeout-ms: 500\n    endpoints: [${tc.cluster.endpoints.map((e) => `"${e}"`).join(', ')}]\n`,
        );
        await Promise.all([startInstance(0), startInstance(1)]);
      });
      after(async () => {
        for (const p of instances) p?.child.kill('SIGKILL');
        await tc?.dispose();
        rmSync(dir, { recursive: true, force: true });
      });

      it('numbers requested alternately from the two instances are strictly consecutive', async () => {
        const got: number[] = [];
        for (let i = 0; i < 20; i++) {
          const inst = instances[i % 2];
          assert.ok(inst);
          const res = await fetch(`${inst.url}/api/v1/sequence/next?siteId=site-${1 + (i % 2)}&partitionId=partition-a&invoiceType=on-cycle`);
          assert.equal(res.status, 200);
          got.push(((await res.json()) as { sequenceNumber: number }).sequenceNumber);
        }
        assert.deepEqual(got, got.map((_, i) => (got[0] ?? 0) + i));
      });

      it('keeps every guarantee through leader, follower, pause, quorum and instance faults', async () => {
        const random = rng(seed);
        const t0 = Date.now();
        const now = () => Date.now() - t0;
        const recs: Rec[] = [];
        const faults: Fault[] = [];
        let stop = false;
        const sites = [
          ['site-1', 'partition-a'],
          ['site-1', 'partition-b'],
          ['site-2', 'partition-a'],
          ['site-2', 'partition-b'],
        ] as const;

        const call = async (rec: Rec, path: string, body: unknown) => {
          const inst = instances[rec.instance];
          try {
            if (!inst) throw new Error('instance down');
            const res = await fetch(inst.url + path, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
            });
            const json = (await res.json()) as { numbers?: number[] };
            rec.outcome = res.ok ? 'ok' : 'failed';
            if (res.ok && json.numbers) rec.numbers = json.numbers;
          } catch (error) {
            // A timeout may have committed; a refused connection did not reach seqd at all.
            rec.outcome = (error as Error).name === 'TimeoutError' ? 'unknown' : 'failed';
          }
          rec.end = now();
          recs.push(rec);
        };

        const client = async (id: number) => {
          const r = rng(seed * 100 + id);
          let instance = id % 2;
          const held: { n: number; site: string; partition: string }[] = [];
          while (!stop) {
            const [site, partition] = sites[id % sites.length] ?? sites[0];
            const base = { kind: 'next' as const, client: id, instance, start: now(), end: 0, outcome: 'failed' as Outcome, numbers: [] as number[], site, partition };
            if (held.length > 2 && r() < 0.08) {
              const h = held.shift();
              if (!h) continue;
              const rec: Rec = { ...base, kind: 'release', numbers: [h.n] };
              await call(rec, '/api/v1/sequence/release', { sequenceNumber: h.n, siteId: h.site, partitionId: h.partition, reason: `faults-${seed}` });
            } else {
              const rec: Rec = { ...base };
              await call(rec, '/api/v1/sequence/next', { siteId: site, partitionId: partition, invoiceType: 'on-cycle', count: 1 });
              if (rec.outcome === 'ok') for (const n of rec.numbers) held.push({ n, site, partition });
              if (rec.outcome !== 'ok') {
                instance = 1 - instance; // move to the other instance
                await sleep(50);
              }
            }
          }
        };

        const running = Array.from({ length: CLIENTS }, (_, i) => client(i));
        const cluster = tc.cluster;
        const fault = async (name: string, inject: (f: Fault) => Promise<void>, heal: () => Promise<void>, holdMs: number) => {
          const f: Fault = { name, start: now(), end: 0 };
          faults.push(f);
          await inject(f);
          await sleep(holdMs);
          await heal();
          f.end = now();
          await cluster.waitHealthy(20_000);
          await waitLeader(cluster);
          await sleep(1500);
        };

        await sleep(1500);
        const leader = await waitLeader(cluster);
        await fault(`kill -9 etcd leader ${leader}`, () => cluster.killMember(leader), () => cluster.restartMember(leader), 3000);

        const l2 = await waitLeader(cluster);
        const followers = cluster.members.filter((m) => m.name !== l2).map((m) => m.name);
        const follower = followers[Math.floor(random() * followers.length)] ?? followers[0] ?? 'm1';
        await fault(`kill -9 etcd follower ${follower}`, () => cluster.killMember(follower), () => cluster.restartMember(follower), 2000);

        const paused = cluster.members[Math.floor(random() * cluster.members.length)]?.name ?? 'm1';
        await fault(
          `SIGSTOP etcd member ${paused} for 3 s`,
          async () => void cluster.signal(paused, 'SIGSTOP'),
          async () => void cluster.signal(paused, 'SIGCONT'),
          3000,
        );

        const l3 = await waitLeader(cluster);
        const two = cluster.members.filter((m) => m.name !== l3).map((m) => m.name);
        await fault(
          `stop two etcd members (${two.join(', ')}): no quorum`,
          async (f) => {
            await Promise.all(two.map((n) => cluster.killMember(n)));
            f.closedFrom = now();
          },
          async () => {
            await Promise.all(two.map((n) => cluster.restartMember(n)));
          },
          3000,
        );

        const victim = random() < 0.5 ? 0 : 1;
        await fault(
          `kill -9 seqd instance ${victim + 1}`,
          async () => {
            const p = instances[victim];
            instances[victim] = null;
            p?.child.kill('SIGKILL');
            await p?.exited;
          },
          () => startInstance(victim),
          2000,
        );

        stop = true;
        await Promise.all(running);
        assert.ok(await memberHealthy(cluster.endpoints[0] ?? ''), 'cluster healthy at the end');

        // ---- the checker ----
        const live = instances.find((p): p is SeqdProcess => p !== null);
        assert.ok(live);
        const B = live.url;
        const acquisitions = new Map<string, number>(); // "n|site/partition" → count in the audit
        const releases = new Map<number, number>();
        let cursor = 0;
        for (;;) {
          const res = await fetch(`${B}/api/v1/audit?order=asc&limit=1000&cursor=${cursor}`);
          const page = (await res.json()) as { events: { seq: number; event: string; first: number; last: number; siteId: string; partitionId: string }[]; nextCursor: number | null };
          for (const e of page.events) {
            for (let n = e.first; n <= e.last; n++) {
              if (e.event === 'issue' || e.event === 'refill') {
                const k = `${n}|${e.siteId}/${e.partitionId}`;
                acquisitions.set(k, (acquisitions.get(k) ?? 0) + 1);
              } else if (e.event === 'release') releases.set(n, (releases.get(n) ?? 0) + 1);
            }
          }
          if (page.nextCursor === null) break;
          cursor = page.nextCursor;
        }
        const told = new Map<string, number>();
        for (const r of recs) {
          if (r.kind !== 'next' || r.outcome !== 'ok') continue;
          for (const n of r.numbers) told.set(`${n}|${r.site}/${r.partition}`, (told.get(`${n}|${r.site}/${r.partition}`) ?? 0) + 1);
        }
        for (const [k, times] of told) {
          assert.ok((acquisitions.get(k) ?? 0) >= times, `seed ${seed}: acknowledged ${k} ×${times} but the audit holds ${acquisitions.get(k) ?? 0}`);
        }
        const byNumber = new Map<number, number>();
        for (const [k, times] of told) {
          const n = Number(k.split('|')[0]);
          byNumber.set(n, (byNumber.get(n) ?? 0) + times);
        }
        for (const [n, times] of byNumber) {
          assert.ok(times <= (releases.get(n) ?? 0) + 1, `seed ${seed}: number ${n} acknowledged ${times} times with ${releases.get(n) ?? 0} releases`);
        }
        for (const r of recs) {
          if (r.kind === 'release' && r.outcome === 'ok') {
            assert.ok((releases.get(r.numbers[0] ?? -1) ?? 0) >= 1, `seed ${seed}: acknowledged release of ${r.numbers[0]} missing from the audit`);
          }
        }
        const verify = (await (await fetch(`${B}/api/v1/audit/verify`)).json()) as { valid: boolean; continuity: { problem: string | null; highWaterMark: number } };
        assert.equal(verify.valid, true, `seed ${seed}: ${verify.continuity.problem}`);
        const maxTold = Math.max(0, ...byNumber.keys());
        assert.ok(verify.continuity.highWaterMark >= maxTold, `seed ${seed}: HWM below an acknowledged number`);

        // Fail closed: nothing may succeed that started after quorum was lost and ended before it returned.
        for (const f of faults) {
          if (f.closedFrom === undefined) continue;
          const closed = f.closedFrom;
          const bad = recs.filter((r) => r.outcome === 'ok' && r.start > closed && r.end < f.end);
          assert.equal(bad.length, 0, `seed ${seed}: ${bad.length} requests succeeded without quorum`);
        }

        const counts = { ok: 0, failed: 0, unknown: 0 };
        for (const r of recs) counts[r.outcome]++;
        const oks = recs.filter((r) => r.outcome === 'ok').map((r) => r.end).sort((a, b) => a - b);
        const lines = faults.map((f, i) => {
          // From the fault until the next one starts (at most 5 s after healing): no double counting.
          const until = Math.min(f.end + 5000, faults[i + 1]?.start ?? Infinity);
          const inWindow = [f.start, ...oks.filter((t) => t >= f.start && t <= until)];
          let stall = 0;
          for (let i = 1; i < inWindow.length; i++) stall = Math.max(stall, (inWindow[i] ?? 0) - (inWindow[i - 1] ?? 0));
          return `  ${f.name}: longest stall ${stall} ms`;
        });
        console.log(`fault seed ${seed}: ${recs.length} requests: ${counts.ok} ok, ${counts.failed} failed, ${counts.unknown} unknown; HWM ${verify.continuity.highWaterMark}\n${lines.join('\n')}`);
        assert.ok(counts.ok > 500, `seed ${seed}: too little load got through (${counts.ok} ok)`);
      });
    });
  }
});
