import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from '../lib/types.js';
import type { BenchPostgres } from './postgres-server.js';
import { percentiles } from './run-tool.js';

/**
 * The usual gapless counter: one row, `UPDATE … RETURNING` per number, default durability
 * (fsync on, synchronous_commit on), driven natively by pgbench over loopback TCP: no HTTP in
 * front of it, so this is the database's best case.
 */
export async function postgresCounter(pg: BenchPostgres, connections: number, seconds: number): Promise<Row> {
  const script = join(pg.dir, 'counter.sql');
  writeFileSync(script, 'UPDATE counter SET v = v + 1 WHERE id = 1 RETURNING v;\n');
  // Called once per connection count by the sweep: the row and its table are made once.
  await pg.client('psql', ['-q', '-c', 'CREATE TABLE IF NOT EXISTS counter (id int PRIMARY KEY, v bigint NOT NULL); INSERT INTO counter VALUES (1, 0) ON CONFLICT DO NOTHING;', 'postgres']);
  const logPrefix = join(pg.dir, 'pgbench_log');
  for (const f of readdirSync(pg.dir).filter((n) => n.startsWith('pgbench_log'))) rmSync(join(pg.dir, f));
  // pgbench's -T runs from its start, and opening a connection (a forked backend) took up to 30 ms
  // here: 512 of them outlasted a 3 s run, which then processed nothing. The allowance covers the
  // opening; the rate pgbench reports leaves the connection time out.
  const total = seconds + Math.ceil(connections * 0.05);
  const out = await pg.client('pgbench', ['-n', '-c', String(connections), '-j', '1', '-T', String(total), '-f', script, '-l', `--log-prefix=${logPrefix}`, 'postgres'], total * 3000 + 30_000);
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);
  if (!Number.isFinite(tps)) throw new Error(`pgbench at ${connections} connections measured nothing: ${out.trim().split('\n').slice(-3).join(' / ')}`);
  const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
  // Per-transaction log: client, transaction, latency in µs, ...
  const samples: number[] = [];
  for (const f of readdirSync(pg.dir).filter((n) => n.startsWith('pgbench_log'))) {
    for (const line of readFileSync(join(pg.dir, f), 'utf8').split('\n')) {
      const us = Number(line.split(' ')[2]);
      if (Number.isFinite(us) && line) samples.push(us / 1000);
    }
  }
  return {
    scenario: 'alternative: PostgreSQL counter row (UPDATE … RETURNING)',
    tool: 'pgbench',
    connections,
    requestsPerSec: Math.round(tps),
    numbersPerSec: Math.round(tps),
    latencyMs: percentiles(samples),
    errors: failed,
  };
}
