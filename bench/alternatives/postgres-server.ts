import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findProgram, run } from './run-tool.js';

const PG_DIRS = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

/** A throw-away PostgreSQL server with its defaults (fsync on, synchronous_commit on). */
export interface BenchPostgres {
  readonly port: number;
  /** Superuser URL of the `postgres` database (trust authentication, loopback TCP). */
  readonly url: string;
  /** The directory the server's user may write to (scripts, pgbench logs). */
  readonly dir: string;
  /** Runs one of PostgreSQL's programs (psql, pgbench) as the server's user, with `-h/-p/-U`. */
  client(program: 'psql' | 'pgbench', args: readonly string[], timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/** Starts a server in a new temporary directory, or answers why it cannot run here. */
export async function startBenchPostgres(port: number, maxConnections: number): Promise<BenchPostgres | { reason: string }> {
  const initdb = findProgram('initdb', PG_DIRS);
  const pgCtl = findProgram('pg_ctl', PG_DIRS);
  const psql = findProgram('psql', PG_DIRS);
  const pgbench = findProgram('pgbench', PG_DIRS);
  if (!initdb || !pgCtl || !psql || !pgbench) return { reason: 'PostgreSQL server or pgbench not installed (Debian: postgresql)' };
  // PostgreSQL refuses to run as root: as root, run it as the `postgres` user the package created.
  const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  if (asUser.length > 0 && !findProgram('runuser')) return { reason: 'running as root without runuser' };
  let ids: RegExpExecArray | null = null;
  if (asUser.length > 0) {
    ids = /postgres:x:(\d+):(\d+):/.exec(readFileSync('/etc/passwd', 'utf8'));
    if (!ids?.[1] || !ids[2]) return { reason: 'running as root and there is no postgres user' };
  }
  // Its own temporary dir: the server's user must be able to reach it.
  const dir = mkdtempSync(join(tmpdir(), 'seqd-bench-pg-'));
  const data = join(dir, 'pg');
  mkdirSync(data, { recursive: true });
  if (ids?.[1] && ids[2]) {
    chownSync(dir, Number(ids[1]), Number(ids[2]));
    chownSync(data, Number(ids[1]), Number(ids[2]));
  }
  const as = (cmd: string, args: readonly string[], timeoutMs = 60_000) =>
    asUser.length > 0 ? run(asUser[0] ?? 'runuser', [...asUser.slice(1), cmd, ...args], { timeoutMs }) : run(cmd, args, { timeoutMs });
  try {
    await as(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
    await as(pgCtl, ['-D', data, '-w', '-l', join(dir, 'pg.log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=${maxConnections}`, 'start']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const connection = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    client: (program, args, timeoutMs) => as(program === 'psql' ? psql : pgbench, [...connection, ...args], timeoutMs),
    stop: async () => {
      await as(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
