import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EtcdCluster, type EtcdClusterOptions } from '../../src/cluster/etcd-cluster.js';

export interface Instance {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `dist/cli.js serve` and resolves once it prints the address it listens on. Node options
 * for the instances (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them) come from
 * SEQD_BENCH_NODE_ARGS.
 */
export async function startInstance(root: string, args: readonly string[], env: Record<string, string> = {}): Promise<Instance> {
  const nodeArgs = (process.env.SEQD_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'dist', 'cli.js'), 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  // The start-up output, then the last 20 kB: enough to tell why an instance died.
  const collect = (d: Buffer) => {
    out += d.toString();
    if (out.length > 40_000) out = out.slice(-20_000);
  };
  child.stderr.on('data', collect);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`seqd did not start within 60 s:\n${out}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      collect(d);
      const m = /seqd listening on (http:\/\/[^\s"]+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`seqd exited (${code}):\n${out}`));
    });
  });
  child.stdout.resume();
  let stopping = false;
  // An instance that dies during a measurement is a finding, not noise: say so, with its last words.
  child.on('exit', (code, signal) => {
    if (!stopping) console.error(`\nseqd instance ${url} (pid ${child.pid}) exited during the bench (${signal ?? code}); its last output:\n${out.slice(-4000)}`);
  });
  return {
    url,
    pid: child.pid ?? 0,
    stop: () => {
      stopping = true;
      return stopChild(child);
    },
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The embedded store (profile poc) on its own data directory. */
export function startEmbedded(root: string, dataDir: string): Promise<Instance> {
  return startInstance(root, ['--profile', 'poc', '--data-dir', dataDir]);
}

/**
 * Where {@link startHa} puts the cluster: its folder, ports and raft timing (to kill and restart
 * members as the instances started them). The timing is the ha-poc profile's.
 */
export function haCluster(dir: string, portBase: number): EtcdClusterOptions {
  const profile = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'config', 'application-ha-poc.yml'), 'utf8');
  const ms = (name: string) => Number(new RegExp(`${name}:\\s*(\\d+)`).exec(profile)?.[1]);
  return { dataDir: join(dir, 'etcd-cluster'), clientPortBase: portBase, peerPortBase: portBase + 10, heartbeatMs: ms('heartbeat-interval-ms'), electionMs: ms('election-timeout-ms') };
}

/**
 * Two instances on a 3-member etcd cluster that the first one starts (profile ha-poc), with the
 * cluster's data and ports moved away from a POC that may be running on this machine. Extra
 * YAML lines go under `sequence.etcd` (e.g. `pipeline-depth: 2`).
 */
export async function startHa(root: string, dir: string, portBase: number, etcdLines: readonly string[] = [], splitBy: readonly string[] = []): Promise<Instance[]> {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'bench-ha.yml');
  const cluster = haCluster(dir, portBase);
  writeFileSync(
    config,
    [
      'sequence:',
      '  etcd:',
      `    data-directory: ${JSON.stringify(cluster.dataDir)}`,
      `    client-port-base: ${cluster.clientPortBase}`,
      `    peer-port-base: ${cluster.peerPortBase}`,
      ...etcdLines.map((l) => `    ${l}`),
      ...(splitBy.length > 0 ? ['  series:', `    split-by: [${splitBy.join(', ')}]`] : []),
      '',
    ].join('\n'),
  );
  let one: Instance | null = null;
  try {
    one = await startInstance(root, ['--profile', 'ha-poc', '--data-dir', join(dir, 'site-1'), '--config', config], { SEQ_NODE_ID: 'site-1' });
    const two = await startInstance(root, ['--profile', 'ha-poc', '--data-dir', join(dir, 'site-2'), '--config', config], { SEQ_NODE_ID: 'site-2' });
    return [one, two];
  } catch (error) {
    await one?.stop();
    // An instance that failed to start leaves the members it started running (they are detached):
    // one left from a failed run kept calling its peers through every later measurement.
    await new EtcdCluster(cluster).stop();
    throw error;
  }
}

/** One instance (profile pg-poc) on the PostgreSQL server at `url`. */
export function startOnPostgres(root: string, dir: string, url: string): Promise<Instance> {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'bench-pg.yml');
  writeFileSync(config, ['sequence:', '  postgres:', `    url: ${JSON.stringify(url)}`, ''].join('\n'));
  return startInstance(root, ['--profile', 'pg-poc', '--data-dir', dir, '--config', config]);
}
