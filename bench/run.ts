/**
 * `npm run bench`: measures seqd against the no-op route of the same server (the ceiling) and,
 * when installed here, the usual alternatives, all in one run:
 *
 * - embedded (profile poc, SQLite on a temporary dir): next count=1 and count=100 at 50
 *   connections, a mixed load with suppressed invoices (releases and refills), and the resident
 *   size after 100,000 and 1,000,000 allocations;
 * - HA (profile ha-poc: 3 etcd members started by the first instance, two instances): count=1 at
 *   64 connections spread over both;
 * - PostgreSQL (a throw-away server with its default durability): the usual counter row
 *   (pgbench), then seqd (profile pg-poc) on the same server, count=1 and count=100;
 * - alternatives: Redis INCR with appendfsync always
 *   (redis-benchmark), a naive etcd compare-and-swap loop (on the HA run's cluster).
 *
 * - scaling: every scenario again at 1, 8, 32, 128 and 512 connections (`--sweep`), drawn as
 *   SVG charts (throughput and p99 against connections) into docs/bench/;
 * - failover: the etcd leader killed 5 times under load from clients with idempotency keys
 *   (`--failover-kills`): the stall of each kill, drawn as a histogram.
 *
 * Every seqd row of the table is measured right after the no-op route of the same server(s) at
 * the same connections ("× ceiling just before"), besides its ratio to the first row.
 *
 * The HTTP load generator is wrk when installed (native, one thread), else autocannon.
 * Prints a table and writes bench/results/latest.json; `--compare FILE` prints the change
 * against an earlier result.
 *
 *   npm run bench                          # 10 s per scenario, 3 s per sweep point
 *   npm run bench -- --duration 3          # shorter
 *   npm run bench -- --sweep ''            # no sweep
 *   npm run bench -- --compare bench/results/before.json
 *   npm run bench -- --smoke               # 1 s per scenario, no alternatives, no memory, no sweep (CI)
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { etcdCas } from './alternatives/etcd-cas.js';
import { postgresCounter } from './alternatives/postgres-counter.js';
import { startBenchPostgres } from './alternatives/postgres-server.js';
import { redisIncr } from './alternatives/redis-incr.js';
import { findProgram } from './alternatives/run-tool.js';
import { freePortBase } from '../test/helpers/etcd-cluster.js';
import { loadTool, runHttpLoad, type Target } from './lib/http-load.js';
import { haCluster, startEmbedded, startHa, startOnPostgres, type Instance } from './lib/seqd-instances.js';
import { leaderKills } from './lib/failover.js';
import { compareWith, sweepPoint, writeCharts, type FailoverResult, type SweepPoint } from './lib/sweep.js';
import { printFailover, printSweep, printTable } from './lib/table.js';
import { round2, withProgress, type Row, type Skipped } from './lib/types.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    'ha-connections': { type: 'string', default: '64' },
    smoke: { type: 'boolean', default: false },
    'skip-ha': { type: 'boolean', default: false },
    'skip-alternatives': { type: 'boolean', default: false },
    'skip-postgres': { type: 'boolean', default: false },
    sweep: { type: 'string', default: '1,8,32,128,512' },
    'sweep-seconds': { type: 'string', default: '3' },
    'failover-kills': { type: 'string', default: '5' },
    'ha-pipeline-depth': { type: 'string', default: '1' },
    /** Extra `sequence.etcd` lines for the HA instances (e.g. `route-to-leader: false`). */
    'ha-etcd': { type: 'string', multiple: true, default: [] },
    charts: { type: 'string', default: 'docs/bench' },
    compare: { type: 'string' },
  },
});
const SMOKE = values.smoke;
const SECONDS = SMOKE ? 1 : Number(values.duration);
const CONNECTIONS = Number(values.connections);
const HA_CONNECTIONS = Number(values['ha-connections']);
const SWEEP = SMOKE ? [] : (values.sweep ?? '').split(',').filter((c) => c.trim() !== '').map(Number);
const SWEEP_SECONDS = Number(values['sweep-seconds']);
const KILLS = SMOKE ? 0 : Number(values['failover-kills']);
const ALTERNATIVES = !SMOKE && !values['skip-alternatives'];

const body = (invoiceType: string, count: number, site = 'site-1', partition = 'partition-a') =>
  JSON.stringify({ siteId: site, partitionId: partition, invoiceType, count });
const ONE = [body('on-cycle', 1), body('off-cycle', 1, 'site-2', 'partition-b')];
const HUNDRED = [body('on-cycle', 100)];
// 1 in 10 suppressed: issued and released at once (an open gap), refilled by the next request.
const MIXED = [...Array.from({ length: 9 }, () => body('on-cycle', 1)), body('suppressed', 1, 'site-2', 'partition-a')];

async function measure(scenario: string, targets: Target[], bodies: string[], numbersPerRequest: number, connections = CONNECTIONS, seconds = SECONDS): Promise<Row> {
  const r = await withProgress(`${scenario}: ${connections} connections`, seconds, runHttpLoad({ targets, bodies, connections, seconds }));
  return {
    scenario,
    tool: r.tool,
    connections,
    requestsPerSec: Math.round(r.requestsPerSec),
    numbersPerSec: Math.round(r.requestsPerSec * numbersPerRequest),
    latencyMs: { avg: round2(r.latencyMs.avg), p50: round2(r.latencyMs.p50), p99: round2(r.latencyMs.p99) },
    errors: r.errors,
  };
}

/**
 * A seqd row measured right after the no-op route of the same server(s) at the same connections
 * and seconds: the row carries its ratio to that paired ceiling.
 */
async function measurePaired(scenario: string, targets: Target[], bodies: string[], numbersPerRequest: number, connections = CONNECTIONS): Promise<Row> {
  const noop = targets.map((t) => ({ ...t, path: '/api/v1/noop' }));
  const ceiling = await measure(`${scenario}: its ceiling`, noop, bodies, 0, connections);
  const row = await measure(scenario, targets, bodies, numbersPerRequest, connections);
  return { ...row, pairedCeilingRps: ceiling.requestsPerSec, ratioToPairedCeiling: round2(row.requestsPerSec / ceiling.requestsPerSec) };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function memoryAfter(seqd: Instance): Promise<{ rssMbAfter100k: number; rssMbAfter1M: number }> {
  const hwm = async () => ((await (await fetch(`${seqd.url}/api/v1/sequence/stats`)).json()) as { highWaterMark: number }).highWaterMark;
  const fill = async (target: number) => {
    while ((await hwm()) < target) {
      await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${seqd.url}/api/v1/sequence/next`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('on-cycle', 1000) }),
        ),
      );
    }
  };
  const base = await hwm();
  await fill(base + 100_000);
  const rssMbAfter100k = rssMb(seqd.pid);
  await fill(base + 1_000_000);
  return { rssMbAfter100k, rssMbAfter1M: rssMb(seqd.pid) };
}

/**
 * seqd and the usual counter row on the very same PostgreSQL server, one after the other, at the
 * same number of connections: the ratio is the point (group commit against one lock and one WAL
 * flush per number).
 */
async function postgresScenarios(): Promise<void> {
  const pg = await withProgress('starting a PostgreSQL server', 0, startBenchPostgres(portBase + 15, Math.max(CONNECTIONS, ...SWEEP) + 40));
  if ('reason' in pg) {
    skipped.push({ scenario: 'PostgreSQL', reason: pg.reason });
    return;
  }
  try {
    if (ALTERNATIVES) {
      rows.push(await withProgress('alternative: PostgreSQL counter row', SECONDS, postgresCounter(pg, CONNECTIONS, SECONDS)));
      for (const c of SWEEP) {
        try {
          sweep.push(sweepPoint(await withProgress(`alternative: PostgreSQL counter row: ${c} connections`, SWEEP_SECONDS, postgresCounter(pg, c, SWEEP_SECONDS))));
        } catch (error) {
          skipped.push({ scenario: `alternative: PostgreSQL counter row at ${c} connections`, reason: (error as Error).message });
        }
      }
    }
    const seqd = await withProgress('starting seqd on that PostgreSQL', 0, startOnPostgres(ROOT, join(work, 'postgres'), pg.url));
    try {
      const at: Target[] = [{ url: seqd.url, path: '/api/v1/sequence/next' }];
      const warm = SMOKE ? 1 : 2;
      await withProgress('warm-up seqd on PostgreSQL', warm, runHttpLoad({ targets: at, bodies: ONE, connections: CONNECTIONS, seconds: warm }));
      rows.push(await measurePaired('seqd on PostgreSQL next count=1', at, ONE, 1));
      rows.push(await measurePaired('seqd on PostgreSQL next count=100', at, HUNDRED, 100));
      for (const c of SWEEP) sweep.push(sweepPoint(await measure('seqd on PostgreSQL count=1', at, ONE, 1, c, SWEEP_SECONDS)));
    } finally {
      await seqd.stop();
    }
  } finally {
    await pg.stop();
  }
}

async function haScenarios(): Promise<void> {
  const depth = Number(values['ha-pipeline-depth']);
  const instances = await withProgress('starting 3 etcd members and two seqd instances', 0, startHa(ROOT, join(work, 'ha'), portBase, [`pipeline-depth: ${depth}`, ...values['ha-etcd']]));
  try {
    const targets = instances.map((i) => ({ url: i.url, path: '/api/v1/sequence/next' }));
    // The cluster and both instances have just started: 2 s of the same load, not measured.
    await withProgress('HA warm-up', 2, runHttpLoad({ targets, bodies: ONE, connections: HA_CONNECTIONS, seconds: 2 }));
    const ha = `HA next count=1, two instances${depth > 1 ? `, pipeline depth ${depth}` : ''}`;
    rows.push(await measurePaired(ha, targets, ONE, 1, HA_CONNECTIONS));
    for (const c of SWEEP) sweep.push(sweepPoint(await measure('HA count=1, two instances', targets, ONE, 1, c, SWEEP_SECONDS)));
    if (ALTERNATIVES) {
      const endpoints = [0, 1, 2].map((i) => `http://127.0.0.1:${portBase + i}`);
      rows.push(await withProgress('alternative: naive etcd CAS loop', SECONDS, etcdCas(endpoints, CONNECTIONS, SECONDS)));
      // The naive loop at 512 connections would mostly measure its own retry storm for minutes.
      for (const c of SWEEP.filter((n) => n <= 128)) sweep.push(sweepPoint(await withProgress(`alternative: naive etcd CAS loop: ${c} connections`, SWEEP_SECONDS, etcdCas(endpoints, c, SWEEP_SECONDS))));
    }
    if (KILLS > 0) {
      failover = await withProgress(
        `failover: the etcd leader killed ${KILLS} times under load, 16 keyed clients`,
        KILLS * 9,
        leaderKills({ urls: instances.map((i) => i.url), cluster: haCluster(join(work, 'ha'), portBase), kills: KILLS, clients: 16, onKill: (n, m) => process.stdout.write(` kill ${n}: ${m} `) }),
      );
    }
  } finally {
    for (const i of [...instances].reverse()) await i.stop();
  }
}

const work = mkdtempSync(join(tmpdir(), 'seqd-bench-'));
const rows: Row[] = [];
const sweep: SweepPoint[] = [];
// Set by haScenarios (TypeScript cannot see the assignment inside the function).
let failover = null as FailoverResult | null;
const skipped: Skipped[] = [];
let memory: { rssMbAfter100k: number; rssMbAfter1M: number } | null = null;
const portBase = await freePortBase(24);
console.log(`seqd bench: ${SECONDS} s per scenario; HTTP load generator: ${loadTool()}${loadTool() === 'autocannon' ? ' (install wrk for a lighter one)' : ''}; work dir ${work}\n`);

try {
  // Embedded: the ceiling first, then seqd on the same server.
  const seqd = await startEmbedded(ROOT, join(work, 'embedded'));
  let ceiling: Row;
  try {
    const at = (path: string): Target[] => [{ url: seqd.url, path }];
    // A cold server would lower the ceiling and flatter seqd's ratio: warm both routes first.
    const warm = SMOKE ? 1 : 2;
    for (const path of ['/api/v1/noop', '/api/v1/sequence/next']) {
      await withProgress(`warm-up ${path}`, warm, runHttpLoad({ targets: at(path), bodies: ONE, connections: CONNECTIONS, seconds: warm }));
    }
    ceiling = await measure('no-op route (ceiling)', at('/api/v1/noop'), ONE, 0);
    rows.push(ceiling);
    rows.push(await measurePaired('embedded next count=1', at('/api/v1/sequence/next'), ONE, 1));
    rows.push(await measurePaired('embedded next count=100', at('/api/v1/sequence/next'), HUNDRED, 100));
    rows.push(await measurePaired('embedded mixed: 10 % suppressed (release + refill)', at('/api/v1/sequence/next'), MIXED, 1));
    for (const c of SWEEP) {
      sweep.push(sweepPoint(await measure('no-op route (ceiling)', at('/api/v1/noop'), ONE, 0, c, SWEEP_SECONDS)));
      sweep.push(sweepPoint(await measure('embedded count=1', at('/api/v1/sequence/next'), ONE, 1, c, SWEEP_SECONDS)));
    }
    if (!SMOKE) memory = await withProgress('memory: 1,000,000 allocations', 10, memoryAfter(seqd));
  } finally {
    await seqd.stop();
  }

  // HA: two instances on a 3-member cluster; the naive etcd counter runs on the same cluster.
  if (values['skip-ha']) skipped.push({ scenario: 'HA next count=1', reason: '--skip-ha' });
  else if (!findProgram(process.env.ETCD_BIN ?? 'etcd')) skipped.push({ scenario: 'HA next count=1', reason: 'etcd not installed (Debian: etcd-server)' });
  else {
    try {
      await haScenarios();
    } catch (error) {
      skipped.push({ scenario: 'HA', reason: `failed: ${String(error)}` });
      process.exitCode = 1;
    }
  }

  if (values['skip-postgres']) skipped.push({ scenario: 'PostgreSQL', reason: '--skip-postgres' });
  else {
    try {
      await postgresScenarios();
    } catch (error) {
      skipped.push({ scenario: 'PostgreSQL', reason: `failed: ${String(error)}` });
      process.exitCode = 1;
    }
  }

  if (SMOKE || values['skip-alternatives']) skipped.push({ scenario: 'alternatives', reason: SMOKE ? '--smoke' : '--skip-alternatives' });
  else {
    mkdirSync(join(work, 'redis'), { recursive: true });
    try {
      const r = await withProgress('alternative: Redis', SECONDS, redisIncr(join(work, 'redis'), portBase + 16, CONNECTIONS, SECONDS));
      if ('reason' in r) skipped.push(r);
      else {
        rows.push(r);
        // A fresh server per point, each on its own port (the last one may still be closing).
        for (const [i, c] of SWEEP.entries()) {
          const p = await withProgress(`alternative: Redis: ${c} connections`, SWEEP_SECONDS, redisIncr(join(work, 'redis'), portBase + 17 + i, c, SWEEP_SECONDS));
          if (!('reason' in p)) sweep.push(sweepPoint(p));
        }
      }
    } catch (error) {
      skipped.push({ scenario: 'alternative: Redis', reason: `failed: ${String(error)}` });
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const ceilingRps = rows[0]?.requestsPerSec ?? NaN;
for (const r of rows.slice(1)) if (!r.scenario.startsWith('alternative')) r.ratioToCeiling = round2(r.requestsPerSec / ceilingRps);
printTable(rows, skipped, memory);
if (sweep.length > 0) printSweep(sweep);
if (failover) printFailover(failover);
const outDir = join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const outFile = SMOKE ? 'smoke.json' : 'latest.json';
const result = { at: new Date().toISOString(), secondsPerScenario: SECONDS, sweepSeconds: SWEEP_SECONDS, rows, skipped, memory, sweep, failover };
writeFileSync(join(outDir, outFile), JSON.stringify(result, null, 2));
console.log(`written: bench/results/${outFile}`);
if (sweep.length > 0) {
  const when = new Date().toISOString().slice(0, 10);
  const files = writeCharts(join(ROOT, values.charts ?? 'docs/bench'), sweep, failover, `${when}, ${SWEEP_SECONDS} s per point, ${loadTool()}`);
  console.log(`charts: ${files.map((f) => f.slice(ROOT.length + 1)).join(', ')}`);
}
if (values.compare) console.log(compareWith(values.compare, result));
if (failover && (failover.failedKeys > 0 || failover.duplicates > 0)) {
  console.error(`failover: ${failover.failedKeys} keyed requests never succeeded, ${failover.duplicates} numbers given to two keys`);
  process.exitCode = 1;
}
const failed = rows.filter((r) => r.errors > 0 && !r.scenario.startsWith('alternative'));
if (failed.length > 0) {
  console.error(`errors in: ${failed.map((r) => r.scenario).join(', ')}`);
  process.exitCode = 1;
}
