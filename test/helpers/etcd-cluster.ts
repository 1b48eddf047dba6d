import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { EtcdCluster } from '../../src/cluster/etcd-cluster.js';
import type { Network } from './network.js';

/** Why etcd tests cannot run here, or null when they can. In CI a missing etcd is a failure. */
export function etcdMissing(): string | null {
  const bin = process.env.ETCD_BIN ?? 'etcd';
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    const reason = `the etcd binary "${bin}" is not installed (Debian: apt-get install etcd-server; npm test installs it as root)`;
    if (process.env.CI === 'true') throw new Error(`CI needs etcd: ${reason}`);
    return reason;
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A base port with `count` consecutive free ports after it, all within [`from`, `until`), away
 * from etcd's usual 2379/2380. The default range ends below Linux's ephemeral ports (32768 on):
 * a port found free there can be taken by any outgoing connection before the server binds it.
 */
export async function freePortBase(count: number, from = 10000, until = 32700): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * Math.floor((until - from) / count)) * count;
    const free = await Promise.all(Array.from({ length: count }, (_, i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free ports for a test etcd cluster');
}

export interface TestCluster {
  readonly cluster: EtcdCluster;
  readonly dir: string;
  dispose(): Promise<void>;
}

/**
 * A real 3-member etcd cluster on loopback in a temporary folder (fast elections for tests). With
 * `network`, members reach each other through its proxies (one in front of each member's peer
 * port; the caller is told by the `X-Server-From` header etcd puts on every raft connection), so
 * the links between members `m1`..`m3` obey the network's rules.
 */
export async function startTestCluster(options: { heartbeatMs?: number; electionMs?: number; network?: Network } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-etcd-'));
  const base = await freePortBase(9);
  // etcd names a new member by a hash of its peer URLs and the cluster token, which is how the
  // proxies tell callers apart from the first connection on.
  const names = new Map([0, 1, 2].map((i) => [memberId(`http://127.0.0.1:${base + 6 + i}`, 'seqd-local'), `m${i + 1}`]));
  const identify = (head: string) => names.get(/\r\nx-server-from: *([0-9a-f]+)/i.exec(head)?.[1]?.toLowerCase() ?? '') ?? null;
  if (options.network) {
    await Promise.all([0, 1, 2].map((i) => options.network?.proxy(`m${i + 1}`, base + 3 + i, { identify, listenPort: base + 6 + i })));
  }
  const cluster = new EtcdCluster({
    dataDir: dir,
    clientPortBase: base,
    peerPortBase: base + 3,
    ...(options.network ? { advertisePeerPortBase: base + 6 } : {}),
    heartbeatMs: options.heartbeatMs ?? 50,
    electionMs: options.electionMs ?? 500,
    supervise: false,
  });
  await cluster.start();
  if (options.network) {
    const res = await fetch(`${cluster.endpoints[0]}/v3/cluster/member/list`, { method: 'POST', body: '{}' });
    const { members } = (await res.json()) as { members: { ID: string; name: string }[] };
    for (const m of members) {
      if (names.get(BigInt(m.ID).toString(16)) !== m.name) throw new Error(`etcd member ${m.name} has id ${m.ID}, not the one the proxies expect`);
    }
  }
  return {
    cluster,
    dir,
    dispose: async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The name of the member that says it leads, asked of each directly (not through proxies). */
export async function leaderName(cluster: EtcdCluster): Promise<string | null> {
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

export async function waitLeader(cluster: EtcdCluster, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = await leaderName(cluster);
    if (l) return l;
    if (Date.now() > deadline) throw new Error('no etcd leader');
    await sleep(100);
  }
}

/** The id etcd gives a member of a new cluster (hex, as in its `X-Server-From` header). */
function memberId(peerUrl: string, clusterToken: string): string {
  return createHash('sha1').update(peerUrl + clusterToken).digest().readBigUInt64BE(0).toString(16);
}
