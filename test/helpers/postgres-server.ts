import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePortBase } from './etcd-cluster.js';

/** Debian's PostgreSQL 15 server binaries (package postgresql-15). */
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why PostgreSQL tests cannot run here, or null. In CI a missing server is a failure. */
export function postgresMissing(): string | null {
  if (existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'postgres'))) return null;
  const reason = `PostgreSQL 15 is not installed (${PG_BIN}; Debian: apt-get install postgresql-15; npm test installs it as root)`;
  if (process.env.CI === 'true') throw new Error(`CI needs PostgreSQL: ${reason}`);
  return reason;
}

export interface TestPostgres {
  /** A connection URL of the superuser to the `postgres` database (trust authentication). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** kill -9 of the server and every process of it, as a crashed machine (its data stays). */
  kill(): void;
  /** A streaming standby of this server, started on its own port (`application_name` = name). */
  startStandby(name: string): Promise<TestPostgres>;
  /** Makes a standby the primary (pg_ctl promote). */
  promote(): void;
  /** Starts the server again on the same data and port. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** initdb refuses root: as root, the cluster belongs to Debian's `postgres` user. */
const asRoot = process.getuid?.() === 0;
const POSTGRES_UID = asRoot ? Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()) : -1;
const POSTGRES_GID = asRoot ? Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()) : -1;

function run(binary: string, args: string[]): void {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(PG_BIN, binary), ...args]] : [join(PG_BIN, binary), args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
}

/**
 * A throw-away PostgreSQL 15 cluster on a free loopback port: initdb into a temporary directory,
 * fsync and synchronous commit on (the settings seqd relies on), sockets in the data directory.
 */
export async function startTestPostgres(settings: Record<string, string | null> = {}, from?: { port: number; name: string }): Promise<TestPostgres> {
  const root = mkdtempSync(join(tmpdir(), 'seqd-pg-'));
  const dataDir = join(root, 'data');
  if (asRoot) {
    chownSync(root, POSTGRES_UID, POSTGRES_GID);
    chmodSync(root, 0o700);
  }
  if (from) {
    // A copy of the primary that follows its WAL (-R: standby.signal and primary_conninfo).
    run('pg_basebackup', ['-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '-d', `host=127.0.0.1 port=${from.port} user=postgres application_name=${from.name}`]);
  } else {
    run('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
  }
  let port = await freePortBase(1);
  let child: ChildProcess | null = null;
  const options: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: root,
    fsync: 'on',
    synchronous_commit: 'on',
    wal_level: 'replica',
    max_wal_senders: '5',
    max_connections: '100',
  };
  // null: left to the configuration files, where ALTER SYSTEM can change it (the command line wins over them).
  for (const [name, value] of Object.entries(settings)) {
    if (value === null) delete options[name];
    else options[name] = value;
  }
  // The server's own words: a start that fails says why (a CI run once showed only "failed").
  const logPath = join(root, 'server.log');
  const logTail = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n') : '(no log)');
  const startOnce = async (): Promise<'ready' | 'exited' | 'timed out'> => {
    const args = ['-D', dataDir, ...Object.entries(options).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const log = openSync(logPath, 'a');
    const stdio: ['ignore', number, number] = ['ignore', log, log];
    const started = asRoot ? spawn('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'postgres'), ...args], { stdio }) : spawn(join(PG_BIN, 'postgres'), args, { stdio });
    closeSync(log);
    child = started;
    // A loaded machine can take seconds for the first start (recovery, fsync of a new cluster).
    for (let i = 0; i < 600; i++) {
      if (started.exitCode !== null || started.signalCode !== null) return 'exited';
      if (spawnSync(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']).status === 0) return 'ready';
      await sleep(50);
    }
    return 'timed out';
  };
  const notStarted = (outcome: string) => new Error(`PostgreSQL did not start on port ${port} (${outcome}):\n${logTail()}`);
  const start = async (): Promise<void> => {
    const outcome = await startOnce();
    if (outcome !== 'ready') throw notStarted(outcome);
  };
  // runuser's child is the server: kill the whole group's server by its pid file.
  const serverPid = () => Number(execFileSync('head', ['-1', join(dataDir, 'postmaster.pid')], { encoding: 'utf8' }).trim());
  const quit = async () => {
    try {
      process.kill(serverPid(), 'SIGQUIT');
    } catch {
      // already gone
    }
    for (let i = 0; i < 100 && child?.exitCode === null; i++) await sleep(50);
  };
  // The port was free when chosen, but another program may bind it first: a new one, twice.
  for (let attempt = 1; ; attempt++) {
    const outcome = await startOnce();
    if (outcome === 'ready') break;
    if (outcome === 'exited' && attempt < 3 && /could not (bind|create listen)|already in use/i.test(logTail())) {
      port = await freePortBase(1);
      options.port = String(port);
      continue;
    }
    const error = notStarted(outcome);
    await quit();
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    kill: () => {
      const pid = serverPid();
      const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
      for (const p of [pid, ...children]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
    startStandby: (name) => startTestPostgres({ ...settings, hot_standby: 'on' }, { port, name }),
    promote: () => run('pg_ctl', ['promote', '-w', '-D', dataDir]),
    restart: start,
    dispose: async () => {
      await quit();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
