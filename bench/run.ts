/**
 * `npm run bench`: starts seqd (profile poc, embedded store, temporary data dir) and measures, in
 * one run against the same server: a no-op JSON route (the ceiling), single-number requests,
 * 100-number requests and a mixed load with suppressed invoices (releases and refills), then the
 * memory after 100,000 and 1,000,000 allocations. Prints a table and writes bench/results/latest.json.
 *
 *   npm run bench                 # 10 s per scenario
 *   npm run bench -- --duration 3 # shorter
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' } } });
const DURATION = Number(values.duration);
const CONNECTIONS = Number(values.connections);

interface Row {
  scenario: string;
  connections: number;
  requestsPerSec: number;
  numbersPerSec: number;
  latencyMs: { avg: number; p50: number; p99: number };
  errors: number;
  non2xx: number;
  ratioToCeiling?: number;
}

async function startSeqd(dataDir: string): Promise<{ url: string; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'serve', '--profile', 'poc', '--port', '0', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`seqd did not start:\n${out}`)), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /seqd listening on (http:\/\/[^\s"]+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`seqd exited (${code}):\n${out}`)));
  });
  child.stdout.resume();
  return { url, pid: child.pid ?? 0, stop: () => child.kill('SIGTERM') };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function load(name: string, url: string, path: string, bodies: string[], numbersPerRequest: (body: string) => number): Promise<Row> {
  process.stdout.write(`… ${name}: ${DURATION} s at ${CONNECTIONS} connections `);
  let i = 0;
  let numbers = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: url + path,
        connections: CONNECTIONS,
        duration: DURATION,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => {
              const body = bodies[i++ % bodies.length] ?? '{}';
              return { ...req, body };
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('tick', () => process.stdout.write('.'));
  });
  process.stdout.write('\n');
  // Numbers per request are fixed per body; the mix is uniform over `bodies`.
  const avgNumbers = bodies.reduce((a, b) => a + numbersPerRequest(b), 0) / bodies.length;
  numbers = result.requests.average * avgNumbers;
  return {
    scenario: name,
    connections: CONNECTIONS,
    requestsPerSec: Math.round(result.requests.average),
    numbersPerSec: Math.round(numbers),
    latencyMs: { avg: result.latency.average, p50: result.latency.p50, p99: result.latency.p99 },
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

const body = (invoiceType: string, count: number, site = 'site-1', partition = 'partition-a') =>
  JSON.stringify({ siteId: site, partitionId: partition, invoiceType, count });

const dataDir = mkdtempSync(join(tmpdir(), 'seqd-bench-'));
const seqd = await startSeqd(dataDir);
console.log(`seqd ${seqd.url} (pid ${seqd.pid}, data ${dataDir}); load generator: autocannon in this process\n`);
const rows: Row[] = [];
const memory: Record<string, number> = {};
try {
  const noop = await load('no-op route (ceiling)', seqd.url, '/api/v1/noop', [body('on-cycle', 1)], () => 0);
  rows.push(noop);
  const one = await load('embedded next count=1', seqd.url, '/api/v1/sequence/next', [body('on-cycle', 1), body('off-cycle', 1, 'site-2', 'partition-b')], () => 1);
  rows.push(one);
  const hundred = await load('embedded next count=100', seqd.url, '/api/v1/sequence/next', [body('on-cycle', 100)], () => 100);
  rows.push(hundred);
  const mixed = [...Array.from({ length: 9 }, () => body('on-cycle', 1)), body('suppressed', 1, 'site-2', 'partition-a')];
  rows.push(await load('mixed: 10 % suppressed (release + refill)', seqd.url, '/api/v1/sequence/next', mixed, () => 1));
  for (const r of rows.slice(1)) r.ratioToCeiling = Math.round((r.requestsPerSec / noop.requestsPerSec) * 100) / 100;

  // Memory: resident size after 100,000 and after 1,000,000 allocations (count=100 requests).
  const hwm = async () => ((await (await fetch(`${seqd.url}/api/v1/sequence/stats`)).json()) as { highWaterMark: number }).highWaterMark;
  const fill = async (target: number) => {
    while ((await hwm()) < target) {
      await Promise.all(Array.from({ length: 20 }, () => fetch(`${seqd.url}/api/v1/sequence/next`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('on-cycle', 1000) })));
    }
  };
  const base = await hwm();
  await fill(base + 100_000);
  memory.rssMbAfter100k = rssMb(seqd.pid);
  await fill(base + 1_000_000);
  memory.rssMbAfter1M = rssMb(seqd.pid);
} finally {
  seqd.stop();
}

console.log('\n| scenario | req/s | numbers/s | avg ms | p50 ms | p99 ms | × ceiling | errors |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.scenario} | ${r.requestsPerSec.toLocaleString('en-US')} | ${r.numbersPerSec.toLocaleString('en-US')} | ${r.latencyMs.avg.toFixed(2)} | ${r.latencyMs.p50} | ${r.latencyMs.p99} | ${r.ratioToCeiling ?? '-'} | ${r.errors + r.non2xx} |`,
  );
}
console.log(`\nmemory: RSS ${memory.rssMbAfter100k} MB after 100,000 allocations, ${memory.rssMbAfter1M} MB after 1,000,000`);
console.log('not measured yet: HA (two instances on etcd) and the alternatives (PostgreSQL row, Redis INCR, naive etcd CAS).');
const outDir = join(ROOT, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'latest.json'), JSON.stringify({ at: new Date().toISOString(), durationSec: DURATION, rows, memory }, null, 2));
console.log(`written: bench/results/latest.json`);
rmSync(dataDir, { recursive: true, force: true });
