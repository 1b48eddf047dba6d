import { setTimeout as sleep } from 'node:timers/promises';
import type { EtcdCluster } from '../cluster/etcd-cluster.js';
import type { SequenceService } from '../service/sequence-service.js';
import type { ClusterInfo } from '../storage/open-store.js';
import { DemoRecorder, type DemoReport, type IssuedNumber, type ProgressFn } from './demo-report.js';

export interface FailoverOptions {
  /** Concurrent clients allocating throughout. */
  readonly clients: number;
  /** How long allocation keeps running after the first success following the kill (ms). */
  readonly afterRecoveryMs: number;
}

/**
 * Keeps allocating, kills the etcd leader with SIGKILL, measures the time until the first
 * allocation sent after the kill succeeds, then restarts the member and verifies the trail.
 */
export async function runFailoverDemo(
  service: SequenceService,
  cluster: EtcdCluster,
  clusterInfo: () => Promise<ClusterInfo | null>,
  o: FailoverOptions,
  actor: string | null,
  onProgress?: ProgressFn,
): Promise<DemoReport> {
  const rec = new DemoRecorder(
    'failover',
    'Failover: allocation continues while the etcd leader is killed; the stall is measured and the member restarted.',
    { clients: o.clients, afterRecoveryMs: o.afterRecoveryMs },
  );
  const t0 = performance.now();
  const at = () => Math.round(performance.now() - t0);
  const timeline: { atMs: number; event: string }[] = [];
  const note = (event: string) => timeline.push({ atMs: at(), event });

  const before = await clusterInfo();
  const leader = before?.members.find((m) => m.isLeader);
  if (!leader?.name) throw new Error('no etcd leader found: is the cluster healthy?');
  rec.step('cluster before', { leader: leader.name, term: leader.raftTerm, members: before?.members.map((m) => m.name) });

  const numbers: IssuedNumber[] = [];
  const perBucket = new Map<number, { ok: number; failed: number }>();
  let failed = 0;
  let stop = false;
  let killedAt = -1;
  let firstAfterKill = -1;
  const bucket = (ms: number) => {
    const b = Math.floor(ms / 250) * 250;
    const v = perBucket.get(b) ?? { ok: 0, failed: 0 };
    perBucket.set(b, v);
    return v;
  };
  const sites = service.siteConfig;
  const client = async (id: number) => {
    const site = sites[id % sites.length] ?? sites[0];
    if (!site) return;
    while (!stop) {
      const sentAt = at();
      try {
        const r = await service.next({ siteId: site.id, partitionId: site.partitions[0] ?? '', invoiceType: 'on-cycle', count: 1 }, actor);
        numbers.push({ series: r.series, number: r.sequenceNumber });
        bucket(at()).ok++;
        if (killedAt >= 0 && sentAt >= killedAt && firstAfterKill < 0) {
          firstAfterKill = at();
          note(`first allocation sent after the kill succeeded (${r.sequenceNumber})`);
        }
      } catch {
        failed++;
        bucket(at()).failed++;
        await sleep(20);
      }
    }
  };
  note(`${o.clients} clients allocating`);
  const running = Array.from({ length: o.clients }, (_, i) => client(i));
  await sleep(1000);
  killedAt = at();
  note(`kill -9 etcd leader ${leader.name}`);
  await cluster.killMember(leader.name, 'SIGKILL');
  const deadline = killedAt + 15_000;
  while (firstAfterKill < 0 && at() < deadline) await sleep(20);
  onProgress?.(1, 2);
  await sleep(o.afterRecoveryMs);
  stop = true;
  await Promise.all(running);
  note('clients stopped');
  const during = await clusterInfo();
  const newLeader = during?.members.find((m) => m.isLeader);
  note(`leader is now ${newLeader?.name ?? 'unknown'} (term ${newLeader?.raftTerm ?? '?'})`);
  await cluster.restartMember(leader.name);
  await cluster.waitHealthy(15_000);
  note(`member ${leader.name} restarted`);
  onProgress?.(2, 2);

  const stallMs = firstAfterKill >= 0 ? firstAfterKill - killedAt : null;
  rec.step('leader killed', { member: leader.name, atMs: killedAt });
  rec.step('allocation resumed', { stallMs, newLeader: newLeader?.name ?? null, term: newLeader?.raftTerm ?? null });
  rec.step('member restarted', { member: leader.name });
  rec.check('allocation resumed after the leader was killed', stallMs !== null, stallMs !== null ? `first allocation after the kill ${stallMs} ms later` : 'no allocation succeeded within 15 s');
  await rec.verifyCommon(service, numbers);
  return rec.finish({
    stallMs,
    allocated: numbers.length,
    failedRequests: failed,
    killedLeader: leader.name,
    newLeader: newLeader?.name ?? null,
    timeline,
    perQuarterSecond: [...perBucket].sort((a, b) => a[0] - b[0]).map(([t, v]) => ({ atMs: t, ...v })),
  });
}
