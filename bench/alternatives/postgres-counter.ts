import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Row, Skipped } from '../lib/types.js';
import { findProgram, percentiles, run } from './run-tool.js';

const PG_DIRS = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

/**
 * The usual gapless counter: one row, `UPDATE … RETURNING` per number, default durability
 * (fsync on, synchronous_commit on), driven natively by pgbench over loopback TCP: no HTTP in
 * front of it, so this is the database's best case.
 */
export async function postgresCounter(port: number, connections: number, seconds: number): Promise<Row | Skipped> {
  const scenario = 'alternative: PostgreSQL counter row (UPDATE … RETURNING)';
  const initdb = findProgram('initdb', PG_DIRS);
  const pgCtl = findProgram('pg_ctl', PG_DIRS);
  const pgbench = findProgram('pgbench', PG_DIRS);
  if (!initdb || !pgCtl || !pgbench) return { scenario, reason: 'PostgreSQL server or pgbench not installed (Debian: postgresql)' };
  // PostgreSQL refuses to run as root: as root, run it as the `postgres` user the package created.
  const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  if (asUser.length > 0 && !findProgram('runuser')) return { scenario, reason: 'running as root without runuser' };
  // Its own temporary dir: the server's user must be able to reach it.
  const dir = mkdtempSync(join(tmpdir(), 'seqd-bench-pg-'));
  const data = join(dir, 'pg');
  mkdirSync(data, { recursive: true });
  if (asUser.length > 0) {
    const ids = /postgres:x:(\d+):(\d+):/.exec(readFileSync('/etc/passwd', 'utf8'));
    if (!ids?.[1] || !ids[2]) return { scenario, reason: 'running as root and there is no postgres user' };
    chownSync(dir, Number(ids[1]), Number(ids[2]));
    chownSync(data, Number(ids[1]), Number(ids[2]));
  }
  const as = (cmd: string, args: string[], timeoutMs = 60_000) =>
    asUser.length > 0 ? run(asUser[0] ?? 'runuser', [...asUser.slice(1), cmd, ...args], { timeoutMs }) : run(cmd, args, { timeoutMs });
  try {
    await as(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  await as(pgCtl, ['-D', data, '-w', '-l', join(dir, 'pg.log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=${connections + 20}`, 'start']);
  try {
    const script = join(dir, 'counter.sql');
    writeFileSync(script, 'UPDATE counter SET v = v + 1 WHERE id = 1 RETURNING v;\n');
    const psqlArgs = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
    const psql = findProgram('psql', PG_DIRS);
    if (!psql) return { scenario, reason: 'psql not installed' };
    await as(psql, [...psqlArgs, '-q', '-c', 'CREATE TABLE counter (id int PRIMARY KEY, v bigint NOT NULL); INSERT INTO counter VALUES (1, 0);', 'postgres']);
    const logPrefix = join(dir, 'pgbench_log');
    const out = await as(pgbench, ['-n', ...psqlArgs, '-c', String(connections), '-j', '1', '-T', String(seconds), '-f', script, '-l', `--log-prefix=${logPrefix}`, 'postgres'], seconds * 3000 + 30_000);
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
    // Per-transaction log: client, transaction, latency in µs, ...
    const samples: number[] = [];
    for (const f of readdirSync(dir).filter((n) => n.startsWith('pgbench_log'))) {
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
        const us = Number(line.split(' ')[2]);
        if (Number.isFinite(us) && line) samples.push(us / 1000);
      }
    }
    return {
      scenario,
      tool: 'pgbench',
      connections,
      requestsPerSec: Math.round(tps),
      numbersPerSec: Math.round(tps),
      latencyMs: percentiles(samples),
      errors: failed,
    };
  } finally {
    await as(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
