import { spawn } from 'node:child_process';
import type { Row, Skipped } from '../lib/types.js';
import { findProgram, run } from './run-tool.js';

/**
 * Redis `INCR` on one key with `appendfsync always` (every write fsync'd before the reply, one
 * fsync shared by the commands of an event-loop turn), driven natively by redis-benchmark: no
 * HTTP in front of it. Redis is one node: no failover, and no audit or gap accounting.
 */
export async function redisIncr(dir: string, port: number, connections: number, seconds: number): Promise<Row | Skipped> {
  const scenario = 'alternative: Redis INCR, appendfsync always';
  const server = findProgram('redis-server');
  const bench = findProgram('redis-benchmark');
  if (!server || !bench) return { scenario, reason: 'redis-server or redis-benchmark not installed (Debian: redis-server, redis-tools)' };
  const child = spawn(server, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'], {
    stdio: 'ignore',
  });
  try {
    const args = ['-h', '127.0.0.1', '-p', String(port), '-c', String(connections), '-t', 'incr', '--csv'];
    for (let i = 0; i < 50; i++) {
      if (await run(bench, [...args.slice(0, 4), '-n', '1', '-c', '1', '-t', 'ping', '--csv'], { timeoutMs: 2000 }).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // redis-benchmark runs a request count, not a duration: size it from a short first run.
    const probe = parse(await run(bench, [...args, '-n', '5000'], { timeoutMs: 30_000 }));
    const n = Math.max(5000, Math.round(probe.rps * seconds));
    const r = parse(await run(bench, [...args, '-n', String(n)], { timeoutMs: seconds * 3000 + 10_000 }));
    return {
      scenario,
      tool: 'redis-benchmark',
      connections,
      requestsPerSec: Math.round(r.rps),
      numbersPerSec: Math.round(r.rps),
      latencyMs: { avg: r.avg, p50: r.p50, p99: r.p99 },
      errors: 0,
    };
  } finally {
    child.kill('SIGTERM');
  }
}

/** The INCR line of `redis-benchmark --csv`: "INCR","rps","avg","min","p50","p95","p99","max". */
function parse(csv: string): { rps: number; avg: number; p50: number; p99: number } {
  const line = csv.split('\n').find((l) => l.startsWith('"INCR"'));
  const f = (line ?? '').split(',').map((x) => Number(x.replaceAll('"', '')));
  const [, rps = NaN, avg = NaN, , p50 = NaN, , p99 = NaN] = f;
  if (!Number.isFinite(rps)) throw new Error(`unexpected redis-benchmark output:\n${csv}`);
  return { rps, avg, p50, p99 };
}
