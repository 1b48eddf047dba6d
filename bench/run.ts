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
 * The HTTP load generator is wrk when installed (native, one thread), else autocannon.
 * Prints a table and writes bench/results/latest.json.
 *
 *   npm run bench                          # 10 s per scenario
 *   npm run bench -- --duration 3          # shorter
 *   npm run bench -- --smoke               # 1 s per scenario, no alternatives, no memory (CI)
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
import { loadTool, runHttpLoad, type Target } from './lib/http-load.js';
import { startEmbedded, startHa, startOnPostgres, type Instance } from './lib/seqd-instances.js';
import { printTable } from './lib/table.js';
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
  },
});
const SMOKE = values.smoke;
const SECONDS = SMOKE ? 1 : Number(values.duration);
const CONNECTIONS = Number(values.connections);
const HA_CONNECTIONS = Number(values['ha-connections']);

const body = (invoiceType: string, count: number, site = 'site-1', partition = 'partition-a') =>
  JSON.stringify({ siteId: site, partitionId: partition, invoiceType, count });
const ONE = [body('on-cycle', 1), body('off-cycle', 1, 'site-2', 'partition-b')];
const HUNDRED = [body('on-cycle', 100)];
// 1 in 10 suppressed: issued and released at once (an open gap), refilled by the next request.
const MIXED = [...Array.from({ length: 9 }, () => body('on-cycle', 1)), body('suppressed', 1, 'site-2', 'partition-a')];

async function measure(scenario: string, targets: Target[], bodies: string[], numbersPerRequest: number, connections = CONNECTIONS): Promise<Row> {
  const r = await withProgress(`${scenario}: ${connections} connections`, SECONDS, runHttpLoad({ targets, bodies, connections, seconds: SECONDS }));
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
  const pg = await withProgress('starting a PostgreSQL server', 0, startBenchPostgres(portBase + 15, CONNECTIONS + 40));
  if ('reason' in pg) {
    skipped.push({ scenario: 'PostgreSQL', reason: pg.reason });
    return;
  }
  try {
    if (!SMOKE && !values['skip-alternatives']) rows.push(await withProgress('alternative: PostgreSQL counter row', SECONDS, postgresCounter(pg, CONNECTIONS, SECONDS)));
    const seqd = await withProgress('starting seqd on that PostgreSQL', 0, startOnPostgres(ROOT, join(work, 'postgres'), pg.url));
    try {
      const at: Target[] = [{ url: seqd.url, path: '/api/v1/sequence/next' }];
      const warm = SMOKE ? 1 : 2;
      await withProgress('warm-up seqd on PostgreSQL', warm, runHttpLoad({ targets: at, bodies: ONE, connections: CONNECTIONS, seconds: warm }));
      rows.push(await measure('seqd on PostgreSQL next count=1', at, ONE, 1));
      rows.push(await measure('seqd on PostgreSQL next count=100', at, HUNDRED, 100));
    } finally {
      await seqd.stop();
    }
  } finally {
    await pg.stop();
  }
}

async function haScenarios(): Promise<void> {
  const instances = await withProgress('starting 3 etcd members and two seqd instances', 0, startHa(ROOT, join(work, 'ha'), portBase));
  try {
    const targets = instances.map((i) => ({ url: i.url, path: '/api/v1/sequence/next' }));
    // The cluster and both instances have just started: 2 s of the same load, not measured.
    await withProgress('HA warm-up', 2, runHttpLoad({ targets, bodies: ONE, connections: HA_CONNECTIONS, seconds: 2 }));
    rows.push(await measure('HA next count=1, two instances', targets, ONE, 1, HA_CONNECTIONS));
    if (!SMOKE && !values['skip-alternatives']) {
      const endpoints = [0, 1, 2].map((i) => `http://127.0.0.1:${portBase + i}`);
      rows.push(await withProgress('alternative: naive etcd CAS loop', SECONDS, etcdCas(endpoints, CONNECTIONS, SECONDS)));
    }
  } finally {
    for (const i of [...instances].reverse()) await i.stop();
  }
}

const work = mkdtempSync(join(tmpdir(), 'seqd-bench-'));
const rows: Row[] = [];
const skipped: Skipped[] = [];
let memory: { rssMbAfter100k: number; rssMbAfter1M: number } | null = null;
const portBase = 41000 + Math.floor(Math.random() * 400) * 20;
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
    rows.push(await measure('embedded next count=1', at('/api/v1/sequence/next'), ONE, 1));
    rows.push(await measure('embedded next count=100', at('/api/v1/sequence/next'), HUNDRED, 100));
    rows.push(await measure('embedded mixed: 10 % suppressed (release + refill)', at('/api/v1/sequence/next'), MIXED, 1));
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
      else rows.push(r);
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
const outDir = join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const outFile = SMOKE ? 'smoke.json' : 'latest.json';
writeFileSync(join(outDir, outFile), JSON.stringify({ at: new Date().toISOString(), secondsPerScenario: SECONDS, rows, skipped, memory }, null, 2));
console.log(`written: bench/results/${outFile}`);
const failed = rows.filter((r) => r.errors > 0 && !r.scenario.startsWith('alternative'));
if (failed.length > 0) {
  console.error(`errors in: ${failed.map((r) => r.scenario).join(', ')}`);
  process.exitCode = 1;
}
