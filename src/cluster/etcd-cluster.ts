import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive } from '../os/process-alive.js';

export interface EtcdClusterOptions {
  /** Folder holding one data folder, pid file and log per member. */
  readonly dataDir: string;
  /** `etcd` binary: `ETCD_BIN`, else `etcd` from PATH. */
  readonly binary?: string | undefined;
  readonly members?: number;
  readonly clientPortBase?: number;
  readonly peerPortBase?: number;
  /**
   * The peer ports members tell each other (default: the ones they listen on). Tests put a proxy
   * on each to cut or slow the links between members.
   */
  readonly advertisePeerPortBase?: number;
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
  /** Restart members that died (checked every 500 ms). */
  readonly supervise?: boolean;
  /** Called with one line per notable change (member started, died, restarted). */
  readonly onEvent?: (message: string) => void;
}

export interface EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** The peer port the other members dial. */
  readonly advertisedPeerPort: number;
  readonly clientUrl: string;
  readonly dataDir: string;
  readonly pidFile: string;
  readonly logFile: string;
}

/**
 * Go threads (GOMAXPROCS) for each member of a cluster whose `members` all run on a machine with
 * `cores` cores: its share of them, at least one. Each Go runtime otherwise sizes itself to the
 * whole machine, and members that wake for every raft message then spin for work on every core:
 * measured on 2 cores with 3 members, one thread each cut etcd's CPU per transaction by a fifth.
 * An operator's own GOMAXPROCS wins.
 */
export function memberProcs(cores: number, members: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, members)));
}

/**
 * A local etcd cluster of 3 (configurable) members on loopback that seqd starts and supervises
 * (`sequence.etcd.embedded: true`). Members run detached with a pid file each, so they outlive a
 * seqd instance killed with SIGKILL, and another instance on the same folder reuses and supervises
 * them. A member already answering on its port is reused, never started twice.
 */
export class EtcdCluster {
  readonly members: readonly EtcdMember[];
  private readonly binary: string;
  private readonly heartbeatMs: number;
  private readonly electionMs: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly restarting = new Set<string>();

  constructor(private readonly o: EtcdClusterOptions) {
    const dir = resolve(o.dataDir);
    const n = o.members ?? 3;
    const cBase = o.clientPortBase ?? 23790;
    const pBase = o.peerPortBase ?? 23800;
    this.binary = o.binary ?? process.env.ETCD_BIN ?? 'etcd';
    this.heartbeatMs = o.heartbeatMs ?? 100;
    this.electionMs = o.electionMs ?? 1000;
    this.members = Array.from({ length: n }, (_, i) => {
      const name = `m${i + 1}`;
      return {
        name,
        clientPort: cBase + i,
        peerPort: pBase + i,
        advertisedPeerPort: (o.advertisePeerPortBase ?? pBase) + i,
        clientUrl: `http://127.0.0.1:${cBase + i}`,
        dataDir: join(dir, name),
        pidFile: join(dir, `${name}.pid`),
        logFile: join(dir, `${name}.log`),
      };
    });
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  member(name: string): EtcdMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no etcd member ${name}`);
    return m;
  }

  /** Starts the members that are not running, waits until the cluster answers, then supervises. */
  async start(timeoutMs = 30_000): Promise<void> {
    mkdirSync(resolve(this.o.dataDir), { recursive: true });
    // Every member's start settles before a failure is reported: one still spawning would
    // otherwise write its pid file after a caller's stop() had looked for it.
    const started = await Promise.allSettled(this.members.map((m) => this.ensureMember(m)));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    await this.waitHealthy(timeoutMs);
    if (this.o.supervise !== false && !this.timer) {
      this.timer = setInterval(() => void this.superviseOnce(), 500);
      this.timer.unref();
    }
  }

  /** Stops supervising and stops every member, one at a time (SIGTERM, then SIGKILL after 5 s). */
  async stop(): Promise<void> {
    this.stopSupervising();
    // One after another: a leader stopped gracefully hands its leadership to a live member first,
    // and waited 5 s for one that was stopping beside it.
    for (const m of this.members) await this.stopMember(m.name);
  }

  stopSupervising(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sends a signal to a member (SIGKILL to crash it, SIGSTOP/SIGCONT to pause it). */
  signal(name: string, signal: NodeJS.Signals): boolean {
    const pid = this.pidOf(this.member(name));
    if (pid === null) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Kills a member and keeps it down until {@link restartMember}: a hold file tells every
   * supervisor on this folder (other seqd instances too) to leave it alone for `holdMs`.
   */
  async killMember(name: string, signal: NodeJS.Signals = 'SIGKILL', holdMs = 60_000): Promise<void> {
    this.hold(name, holdMs);
    const m = this.member(name);
    const pid = this.pidOf(m);
    if (pid !== null) {
      this.signal(name, signal);
      await waitExit(pid, 10_000);
    }
  }

  async stopMember(name: string, holdMs = 60_000): Promise<void> {
    this.hold(name, holdMs);
    const m = this.member(name);
    const pid = this.pidOf(m);
    if (pid === null) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    if (!(await waitExit(pid, 5_000))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await waitExit(pid, 5_000);
    }
    rmSync(m.pidFile, { force: true });
  }

  async restartMember(name: string): Promise<void> {
    rmSync(this.holdFile(name), { force: true });
    await this.ensureMember(this.member(name));
  }

  private holdFile(name: string): string {
    return `${this.member(name).pidFile}.hold`;
  }

  private hold(name: string, ms: number): void {
    writeFileSync(this.holdFile(name), String(Date.now() + ms));
  }

  private isHeld(name: string): boolean {
    try {
      return Number(readFileSync(this.holdFile(name), 'utf8')) > Date.now();
    } catch {
      return false;
    }
  }

  /** True when the member's process is alive (it may still be unable to serve, e.g. paused). */
  isRunning(name: string): boolean {
    return this.pidOf(this.member(name)) !== null;
  }

  pidOf(m: EtcdMember): number | null {
    try {
      const pid = Number(readFileSync(m.pidFile, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 && isMemberProcess(pid, m) ? pid : null;
    } catch {
      return null;
    }
  }

  /** Waits until a majority of members answer `/health` with `true`. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const quorum = Math.floor(this.members.length / 2) + 1;
    for (;;) {
      const healthy = (await Promise.all(this.members.map((m) => memberHealthy(m.clientUrl)))).filter(Boolean).length;
      if (healthy >= quorum) return;
      if (Date.now() > deadline) {
        throw new Error(`etcd cluster not healthy after ${timeoutMs} ms (${healthy}/${this.members.length} members); see ${this.members[0]?.logFile}`);
      }
      await sleep(200);
    }
  }

  private async superviseOnce(): Promise<void> {
    for (const m of this.members) {
      if (this.isHeld(m.name) || this.restarting.has(m.name) || this.pidOf(m) !== null) continue;
      this.restarting.add(m.name);
      try {
        this.o.onEvent?.(`etcd member ${m.name} is down; restarting it`);
        await this.ensureMember(m);
      } catch (error) {
        this.o.onEvent?.(`etcd member ${m.name} could not be restarted: ${String(error)}`);
      } finally {
        this.restarting.delete(m.name);
      }
    }
  }

  private async ensureMember(m: EtcdMember): Promise<void> {
    if (this.pidOf(m) !== null) return;
    // Another seqd may be starting the same member right now: one lock file decides.
    const lock = `${m.pidFile}.lock`;
    let fd: number;
    try {
      fd = openSync(lock, 'wx');
    } catch {
      if (staleLock(lock)) rmSync(lock, { force: true });
      return;
    }
    try {
      writeFileSync(fd, String(process.pid));
      if (this.pidOf(m) !== null) return;
      if (await memberHealthy(m.clientUrl)) return; // running without our pid file (started by hand)
      const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.advertisedPeerPort}`).join(',');
      const args = [
        `--name=${m.name}`,
        `--data-dir=${m.dataDir}`,
        `--listen-client-urls=${m.clientUrl}`,
        `--advertise-client-urls=${m.clientUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${m.peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${m.advertisedPeerPort}`,
        `--initial-cluster=${cluster}`,
        '--initial-cluster-token=seqd-local',
        `--initial-cluster-state=${existsSync(join(m.dataDir, 'member')) ? 'existing' : 'new'}`,
        `--heartbeat-interval=${this.heartbeatMs}`,
        `--election-timeout=${this.electionMs}`,
        '--pre-vote=true',
        '--auto-compaction-mode=periodic',
        '--auto-compaction-retention=1m',
        '--quota-backend-bytes=8589934592',
        '--snapshot-count=20000',
        '--logger=zap',
        `--log-outputs=${m.logFile}`,
      ];
      const out = openSync(m.logFile, 'a');
      const env = { ...process.env, GOMAXPROCS: process.env.GOMAXPROCS ?? String(memberProcs(availableParallelism(), this.members.length)) };
      const child = spawn(this.binary, args, { detached: true, stdio: ['ignore', out, out], env });
      closeSync(out);
      const spawned = await new Promise<number>((resolvePid, reject) => {
        child.once('error', (e) =>
          reject(
            (e as NodeJS.ErrnoException).code === 'ENOENT'
              ? new Error(`etcd binary "${this.binary}" not found: install etcd (Debian: apt-get install etcd-server) or set ETCD_BIN`)
              : e,
          ),
        );
        child.once('spawn', () => resolvePid(child.pid ?? -1));
      });
      child.unref();
      writeFileSync(m.pidFile, String(spawned));
      this.o.onEvent?.(`etcd member ${m.name} started (pid ${spawned}, ${m.clientUrl})`);
    } finally {
      closeSync(fd);
      rmSync(lock, { force: true });
    }
  }
}

/** True when the member answers its `/health` endpoint with health true. */
export async function memberHealthy(clientUrl: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as { health?: string | boolean };
    return body.health === 'true' || body.health === true;
  } catch {
    return false;
  }
}

async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true;
    await sleep(50);
  }
  return false;
}

/**
 * Whether `pid` is the etcd member `m`: a pid file outlives its member, and the pid may since
 * name another process (of any user: one seqd must neither take it for the member, and so never
 * start it again, nor signal it when stopping the member). Where the command line cannot be
 * read, the pid is taken at its word.
 */
function isMemberProcess(pid: number, m: EtcdMember): boolean {
  if (!isProcessAlive(pid)) return false;
  try {
    // Every cluster names its members m1, m2, …: the data directory tells this one's.
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.includes(`--name=${m.name}`) && args.includes(`--data-dir=${m.dataDir}`);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** A member start lock is held for one spawn (well under a second): one older is left by a crash. */
const START_LOCK_MAX_AGE_MS = 30_000;

function staleLock(lock: string): boolean {
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    // Old enough, it is stale even if its pid now names another (user's) process.
    return !pid || !isProcessAlive(pid) || statSync(lock).mtimeMs < Date.now() - START_LOCK_MAX_AGE_MS;
  } catch {
    return true;
  }
}

/** Pid files of seqd instances using a managed cluster folder (for "stop when the last one leaves"). */
export function liveInstances(dataDir: string, exceptPid = process.pid): number[] {
  const dir = join(resolve(dataDir), 'instances');
  if (!existsSync(dir)) return [];
  const alive: number[] = [];
  for (const f of readdirSync(dir)) {
    const pid = Number(f.replace(/\.pid$/, ''));
    if (!pid || pid === exceptPid) continue;
    if (isProcessAlive(pid)) alive.push(pid);
    else rmSync(join(dir, f), { force: true });
  }
  return alive;
}

export function registerInstance(dataDir: string): () => void {
  const dir = join(resolve(dataDir), 'instances');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${process.pid}.pid`);
  writeFileSync(file, String(process.pid));
  return () => rmSync(file, { force: true });
}
