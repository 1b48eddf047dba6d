/**
 * `npm run bench:embedded-profile`: where the embedded path's CPU goes, per request. Starts seqd on
 * the embedded store (profile poc), loads it with wrk, and prints for the no-op route (the
 * ceiling), next count=1 and next count=100, alternating, the CPU per request of each thread of
 * the seqd process from /proc: the main thread (HTTP, validation, planning, hashing, replies), the
 * SQLite writer thread (the busiest other one) and the rest. Then, without HTTP, the sequence
 * service's own path in one process (50 concurrent callers of `service.next`).
 *
 *   npm run bench:embedded-profile -- --seconds 6 --connections 50 --rounds 2
 *
 * Writes bench/results/embedded-profile.json.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadTool, runHttpLoad } from './lib/http-load.js';
import { startEmbedded } from './lib/seqd-instances.js';
import { withProgress } from './lib/types.js';
import type { NextRequest } from '../src/service/service-api.js';
import { startTestServer } from '../test/helpers/seqd-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, connections: { type: 'string', default: '50' }, rounds: { type: 'string', default: '2' } } });
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);
const TICK_MS = 10; // USER_HZ 100

const body = (type: string, count: number, site = 'site-1', partition = 'partition-a') => JSON.stringify({ siteId: site, partitionId: partition, invoiceType: type, count });
const SCENARIOS = [
  { name: 'no-op route (ceiling)', path: '/api/v1/noop', bodies: [body('on-cycle', 1)] },
  { name: 'next count=1', path: '/api/v1/sequence/next', bodies: [body('on-cycle', 1), body('off-cycle', 1, 'site-2', 'partition-b')] },
  { name: 'next count=100', path: '/api/v1/sequence/next', bodies: [body('on-cycle', 100)] },
] as const;

/** CPU time (ms) of each thread of `pid`, by thread id. */
function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), (Number(f[11]) + Number(f[12])) * TICK_MS);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

interface Row {
  scenario: string;
  round: number;
  reqPerSec: number;
  p99Ms: number;
  mainUs: number;
  writerUs: number;
  otherUs: number;
}

const us = (ms: number, requests: number) => Math.round((ms * 10_000) / requests) / 10;

const rows: Row[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'seqd-embedded-profile-'));
const seqd = await startEmbedded(ROOT, dataDir);
try {
  for (const s of SCENARIOS) await withProgress(`warm-up ${s.name}`, 2, runHttpLoad({ targets: [{ url: seqd.url, path: s.path }], bodies: s.bodies, connections: CONNECTIONS, seconds: 2 }));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of SCENARIOS) {
      const before = threadCpu(seqd.pid);
      const r = await withProgress(`${s.name}, round ${round}`, SECONDS, runHttpLoad({ targets: [{ url: seqd.url, path: s.path }], bodies: s.bodies, connections: CONNECTIONS, seconds: SECONDS }));
      const spent = [...threadCpu(seqd.pid)].map(([tid, ms]) => ({ tid, ms: ms - (before.get(tid) ?? 0) }));
      const main = spent.find((t) => t.tid === seqd.pid)?.ms ?? 0;
      const others = spent.filter((t) => t.tid !== seqd.pid).sort((a, b) => b.ms - a.ms);
      const writer = others[0]?.ms ?? 0;
      const rest = others.slice(1).reduce((a, t) => a + t.ms, 0);
      rows.push({ scenario: s.name, round, reqPerSec: Math.round(r.requestsPerSec), p99Ms: r.latencyMs.p99, mainUs: us(main, r.requests), writerUs: us(writer, r.requests), otherUs: us(rest, r.requests) });
    }
  }
} finally {
  await seqd.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

// The service alone: no HTTP, no JSON, the same store and group commit.
const inProcess: { reqPerSec: number; processCpuUs: number }[] = [];
const server = await startTestServer();
try {
  const reqs: readonly NextRequest[] = [
    { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 },
    { siteId: 'site-2', partitionId: 'partition-b', invoiceType: 'off-cycle', count: 1 },
  ];
  for (let round = 0; round <= ROUNDS; round++) {
    let done = 0;
    const cpu = process.cpuUsage();
    const end = performance.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, i) => {
        const req = reqs[i % reqs.length] as NextRequest;
        while (performance.now() < end) {
          await server.service.next({ ...req }, null);
          done++;
        }
      }),
    );
    const spent = process.cpuUsage(cpu);
    // Round 0 warms the process up.
    if (round > 0) inProcess.push({ reqPerSec: Math.round(done / SECONDS), processCpuUs: Math.round(((spent.user + spent.system) / done) * 10) / 10 });
  }
} finally {
  await server.dispose();
}

console.log(`\nseqd embedded, ${CONNECTIONS} connections, ${SECONDS} s per point, load generator ${loadTool()}; CPU per request from /proc (µs)\n`);
console.log('| scenario | round | req/s | p99 ms | main thread | writer thread | other threads |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.scenario} | ${r.round} | ${r.reqPerSec.toLocaleString('en-US')} | ${r.p99Ms} | ${r.mainUs} | ${r.writerUs} | ${r.otherUs} |`);
console.log(`\nThe service alone (in process, ${CONNECTIONS} concurrent callers of service.next, no HTTP): ${inProcess.map((p) => `${p.reqPerSec.toLocaleString('en-US')} req/s at ${p.processCpuUs} µs of process CPU per request`).join('; ')}`);
const out = join(ROOT, 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'embedded-profile.json'), `${JSON.stringify({ at: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, rows, inProcess }, null, 2)}\n`);
