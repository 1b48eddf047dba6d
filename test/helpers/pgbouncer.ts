import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePortBase } from './etcd-cluster.js';
import { PG_BIN } from './postgres-server.js';

/** Debian's PgBouncer (package pgbouncer, 1.18 on Debian 12: no prepared statements in transaction mode). */
export const PGBOUNCER_BIN = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';

/** Why tests through PgBouncer cannot run here, or null. In CI a missing PgBouncer is a failure. */
export function pgbouncerMissing(): string | null {
  if (existsSync(PGBOUNCER_BIN)) return null;
  const reason = `PgBouncer is not installed (${PGBOUNCER_BIN}; Debian: apt-get install pgbouncer; npm test installs it as root)`;
  if (process.env.CI === 'true') throw new Error(`CI needs PgBouncer: ${reason}`);
  return reason;
}

export interface TestPgBouncer {
  /** The pooler's URL: the same user and database as the server's. */
  readonly url: string;
  dispose(): Promise<void>;
}

/** PgBouncer refuses to run as root: as root it runs as Debian's `postgres` user, as the server does. */
const asRoot = process.getuid?.() === 0;

/**
 * A PgBouncer on a free loopback port in front of a test server (`serverPort`), in `mode`, with
 * `poolSize` server connections for all its clients: fewer than seqd's pool, so that transaction
 * mode really hands one client's transactions to different server connections.
 */
export async function startTestPgBouncer(serverPort: number, mode: 'session' | 'transaction', poolSize = 2): Promise<TestPgBouncer> {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-pgbouncer-'));
  const port = await freePortBase(1);
  writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `postgres = host=127.0.0.1 port=${serverPort} dbname=postgres user=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      `pool_mode = ${mode}`,
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 200',
      'admin_users = postgres',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const f of ['', 'users.txt', 'pgbouncer.ini']) chownSync(join(dir, f), uid, gid);
    chmodSync(dir, 0o700);
  }
  const args = [join(dir, 'pgbouncer.ini')];
  const child: ChildProcess = asRoot ? spawn('runuser', ['-u', 'postgres', '--', PGBOUNCER_BIN, ...args], { stdio: 'ignore' }) : spawn(PGBOUNCER_BIN, args, { stdio: 'ignore' });
  const log = () => (existsSync(join(dir, 'pgbouncer.log')) ? readFileSync(join(dir, 'pgbouncer.log'), 'utf8').split('\n').slice(-10).join('\n') : '(no log)');
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`PgBouncer exited (${child.exitCode}):\n${log()}`);
    if (spawnSync(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']).status === 0) break;
    if (i > 200) throw new Error(`PgBouncer did not listen on ${port}:\n${log()}`);
    await sleep(50);
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dispose: async () => {
      // PgBouncer itself, by its pid file: runuser does not pass a signal on.
      try {
        process.kill(Number(readFileSync(join(dir, 'pgbouncer.pid'), 'utf8').trim()), 'SIGTERM');
      } catch {
        child.kill('SIGKILL');
      }
      for (let i = 0; i < 100 && child.exitCode === null && child.signalCode === null; i++) await sleep(50);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
