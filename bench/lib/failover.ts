import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdCluster, type EtcdClusterOptions } from '../../src/cluster/etcd-cluster.js';
import type { FailoverResult } from './sweep.js';

export interface LeaderKills {
  /** seqd instances; clients are spread over them. */
  readonly urls: readonly string[];
  /** The managed cluster the instances run on (its folder and ports). */
  readonly cluster: EtcdClusterOptions;
  readonly kills: number;
  readonly clients: number;
  /** Each keyed request is retried (same key) until it succeeds or this long has passed. */
  readonly giveUpMs?: number;
  readonly onKill?: (n: number, member: string) => void;
}

const BODIES = [
  { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 },
  { siteId: 'site-2', partitionId: 'partition-b', invoiceType: 'off-cycle', count: 1 },
];

/**
 * Kills the etcd leader `kills` times under load from clients that send every request with an
 * idempotency key and retry it (same key) on any failure: what a careful billing client does.
 * Each kill's stall is the longest time without any successful answer from the kill until 5 s
 * after it. The member is restarted and
 * the cluster healthy again before the next kill.
 */
export async function leaderKills(o: LeaderKills): Promise<FailoverResult> {
  const cluster = new EtcdCluster(o.cluster);
  const giveUp = o.giveUpMs ?? 20_000;
  const successes: number[] = [];
  const owner = new Map<string, string>();
  let duplicates = 0;
  let failedKeys = 0;
  let requests = 0;
  let stop = false;

  const client = async (c: number) => {
    const url = o.urls[c % o.urls.length] as string;
    const series = c % BODIES.length;
    const body = JSON.stringify(BODIES[series]);
    for (let i = 0; !stop; i++) {
      const key = `bench-failover-${process.pid}-${c}-${i}`;
      requests++;
      const until = performance.now() + giveUp;
      let numbers: number[] | null = null;
      while (numbers === null && performance.now() < until) {
        try {
          const res = await fetch(`${url}/api/v1/sequence/next`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': key },
            body,
            signal: AbortSignal.timeout(5000),
          });
          if (res.status === 200) numbers = ((await res.json()) as { numbers: number[] }).numbers;
          else await res.arrayBuffer();
        } catch {
          // Refused, reset or timed out: the same key again after a breath.
        }
        if (numbers === null) await sleep(25);
      }
      if (numbers === null) {
        failedKeys++;
        continue;
      }
      successes.push(performance.now());
      for (const n of numbers) {
        const was = owner.get(`${series}:${n}`);
        if (was !== undefined && was !== key) duplicates++;
        owner.set(`${series}:${n}`, key);
      }
    }
  };

  // Each member says itself whether it leads (its metrics): no view of one member's through another.
  const leaderName = async (): Promise<string | null> => {
    for (const m of cluster.members) {
      try {
        const metrics = await (await fetch(`http://127.0.0.1:${m.clientPort}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
        if (/^etcd_server_is_leader 1$/m.test(metrics)) return m.name;
      } catch {
        // Down or slow: not the one to kill.
      }
    }
    return null;
  };

  const running = Array.from({ length: o.clients }, (_, c) => client(c));
  const stalls: number[] = [];
  const electedMs: number[] = [];
  try {
    await sleep(1500);
    for (let k = 0; k < o.kills; k++) {
      const leader = await leaderName();
      if (!leader) throw new Error('no etcd leader reported by the instances');
      o.onKill?.(k + 1, leader);
      const killedAt = performance.now();
      await cluster.killMember(leader, 'SIGKILL');
      // When a surviving member has become the leader: the rest of the stall is the clients'.
      let elected = NaN;
      while (performance.now() - killedAt < 5000 && Number.isNaN(elected)) {
        if ((await leaderName()) !== null) elected = performance.now() - killedAt;
        else await sleep(20);
      }
      electedMs.push(Math.round(elected));
      await sleep(Math.max(0, 5000 - (performance.now() - killedAt)));
      const window = successes.filter((t) => t > killedAt && t <= killedAt + 5000).sort((a, b) => a - b);
      let last = killedAt;
      let stall = 0;
      for (const t of window) {
        stall = Math.max(stall, t - last);
        last = t;
      }
      stalls.push(Math.round(window.length === 0 ? 5000 : stall));
      await cluster.restartMember(leader);
      await cluster.waitHealthy(15_000);
      await sleep(1500);
    }
  } finally {
    stop = true;
    await Promise.all(running);
  }
  const sorted = [...stalls].sort((a, b) => a - b);
  return {
    kills: stalls.length,
    stallsMs: stalls,
    electedMs,
    medianStallMs: sorted[Math.floor((sorted.length - 1) / 2)] ?? NaN,
    worstStallMs: sorted[sorted.length - 1] ?? NaN,
    failedKeys,
    requests,
    duplicates,
  };
}
