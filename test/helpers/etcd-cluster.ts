import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdCluster } from '../../src/cluster/etcd-cluster.js';

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

/** A base port with `count` consecutive free ports after it, away from etcd's usual 2379/2380. */
export async function freePortBase(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 31000 + Math.floor(Math.random() * 2000) * 10;
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

/** A real 3-member etcd cluster on loopback in a temporary folder (fast elections for tests). */
export async function startTestCluster(options: { heartbeatMs?: number; electionMs?: number } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-etcd-'));
  const base = await freePortBase(6);
  const cluster = new EtcdCluster({
    dataDir: dir,
    clientPortBase: base,
    peerPortBase: base + 3,
    heartbeatMs: options.heartbeatMs ?? 50,
    electionMs: options.electionMs ?? 500,
    supervise: false,
  });
  await cluster.start();
  return {
    cluster,
    dir,
    dispose: async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
