/**
 * `npm run bench:ha-profile`: where the HA path's time and CPU go. Starts the bench's HA setup
 * (3 etcd members, two seqd instances), loads both instances with count=1 requests, and prints:
 *
 * - CPU per process over the measured seconds (% of one core): each seqd instance, each etcd
 *   member, the load generator;
 * - the steps of a batch from seqd's own histograms (queue wait, plan, forward round trip, store
 *   commit) and the requests per commit, for each instance;
 * - etcd's side of a commit from each member's metrics (its own time for a Txn call, WAL fsync,
 *   backend commit, proposals committed per second, peer round trip), and etcd's CPU per proposal.
 *
 *   npm run bench:ha-profile -- --seconds 10 --connections 64 [--split-by site] [--etcd 'KEY: VALUE']
 *
 * `--split-by` splits the numbering (default: one global series); each `--etcd` line goes under
 * `sequence.etcd` of both instances (e.g. `--etcd 'combine-series: false'`).
 *
 * Writes bench/results/ha-profile.json.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePortBase } from '../test/helpers/etcd-cluster.js';
import { loadTool, runHttpLoad } from './lib/http-load.js';
import { histogramMean, metricSum, scrape, type Scrape } from './lib/prometheus-text.js';
import { startHa } from './lib/seqd-instances.js';
import { withProgress } from './lib/types.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '64' }, etcd: { type: 'string', multiple: true, default: [] }, 'split-by': { type: 'string', default: '' } } });
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const TICKS = 100; // USER_HZ on Linux

const body = (site: string, partition: string, type: string) => JSON.stringify({ siteId: site, partitionId: partition, invoiceType: type, count: 1 });
const BODIES = [body('site-1', 'partition-a', 'on-cycle'), body('site-2', 'partition-b', 'off-cycle')];

/** Busy ticks of the whole machine (all cores), from /proc/stat. */
function machineTicks(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  return f.slice(0, 8).reduce((a, x, i) => (i === 3 || i === 4 ? a : a + x), 0);
}

/** utime + stime of every process, in ticks, with its command line. */
function cpuTicks(): Map<number, { ticks: number; cmd: string }> {
  const out = new Map<number, { ticks: number; cmd: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      out.set(Number(name), { ticks, cmd });
    } catch {
      // The process ended between listing and reading.
    }
  }
  return out;
}

// etcd reads flags from ETCD_* variables, and the members inherit them through the instances that
// start them: extensive metrics time each gRPC call inside etcd (Txn: the server's side of a commit).
process.env.ETCD_METRICS = 'extensive';
const work = mkdtempSync(join(tmpdir(), 'seqd-ha-profile-'));
const portBase = await freePortBase(13);
const instances = await withProgress('starting 3 etcd members and two seqd instances', 0, startHa(ROOT, join(work, 'ha'), portBase, values.etcd, values['split-by'].split(',').filter((d) => d !== '')));
try {
  const targets = instances.map((i) => ({ url: i.url, path: '/api/v1/sequence/next' }));
  await withProgress('warm-up', 3, runHttpLoad({ targets, bodies: BODIES, connections: CONNECTIONS, seconds: 3 }));
  const etcdUrls = [0, 1, 2].map((i) => `http://127.0.0.1:${portBase + i}`);
  const machineBefore = machineTicks();
  const before = { cpu: cpuTicks(), seqd: await Promise.all(instances.map((i) => scrape(`${i.url}/metrics`))), etcd: await Promise.all(etcdUrls.map((u) => scrape(`${u}/metrics`))) };
  const started = performance.now();
  const load = await withProgress(`${CONNECTIONS} connections over both instances (${loadTool()})`, SECONDS, runHttpLoad({ targets, bodies: BODIES, connections: CONNECTIONS, seconds: SECONDS }));
  const elapsed = (performance.now() - started) / 1000;
  const afterCpu = cpuTicks();
  const machineBusy = machineTicks() - machineBefore;
  const seqdAfter = await Promise.all(instances.map((i) => scrape(`${i.url}/metrics`)));
  const etcdAfter = await Promise.all(etcdUrls.map((u) => scrape(`${u}/metrics`)));

  // CPU: the load tool's processes have ended by now; their ticks are read from the ones seen.
  const cpu: Record<string, number> = {};
  const add = (label: string, ticks: number) => (cpu[label] = (cpu[label] ?? 0) + ticks);
  for (const [pid, a] of afterCpu) {
    const b = before.cpu.get(pid)?.ticks ?? 0;
    const i = instances.findIndex((x) => x.pid === pid);
    if (i >= 0) add(`seqd instance ${i + 1}`, a.ticks - b);
    else if (/\betcd\b/.test(a.cmd) && a.cmd.includes(work)) add(`etcd ${/--name[= ](\S+)/.exec(a.cmd)?.[1] ?? pid}`, a.ticks - b);
  }
  const cpuPct = Object.fromEntries(Object.entries(cpu).map(([k, t]) => [k, Math.round((t / TICKS / elapsed) * 100)]));
  const totalCpu = Object.values(cpuPct).reduce((a, b) => a + b, 0);
  // The load generator has exited by now (its ticks are gone with it): it is most of the rest.
  cpuPct['everything else (load generator, kernel, other processes)'] = Math.max(0, Math.round((machineBusy / TICKS / elapsed) * 100) - totalCpu);

  const delta = (a: Scrape, b: Scrape, name: string, labels: Record<string, string> = {}) => histogramMean(b, name, labels, a);
  const perInstance = instances.map((_, i) => {
    const a = before.seqd[i] as Scrape;
    const b = seqdAfter[i] as Scrape;
    const commits = metricSum(b, 'seqd_commit_batch_ops_count') - metricSum(a, 'seqd_commit_batch_ops_count');
    return {
      instance: i + 1,
      commitsPerSec: Math.round(commits / elapsed),
      opsPerCommit: Math.round((metricSum(b, 'seqd_commit_batch_ops_sum') - metricSum(a, 'seqd_commit_batch_ops_sum')) / Math.max(1, commits)),
      queueMs: delta(a, b, 'seqd_batch_phase_seconds', { phase: 'queue' }) * 1000,
      planMs: delta(a, b, 'seqd_batch_phase_seconds', { phase: 'plan' }) * 1000,
      forwardMs: delta(a, b, 'seqd_batch_phase_seconds', { phase: 'forward' }) * 1000,
      commitMs: delta(a, b, 'seqd_store_commit_duration_seconds') * 1000,
      conflicts: metricSum(b, 'seqd_commit_conflicts_total') - metricSum(a, 'seqd_commit_conflicts_total'),
    };
  });
  const leader = etcdAfter.findIndex((s) => metricSum(s, 'etcd_server_is_leader') === 1);
  const etcd = etcdAfter.map((b, i) => {
    const a = before.etcd[i] as Scrape;
    return {
      member: `m${i + 1}`,
      leader: i === leader,
      walFsyncMs: delta(a, b, 'etcd_disk_wal_fsync_duration_seconds') * 1000,
      backendCommitMs: delta(a, b, 'etcd_disk_backend_commit_duration_seconds') * 1000,
      fsyncsPerSec: Math.round((metricSum(b, 'etcd_disk_wal_fsync_duration_seconds_count') - metricSum(a, 'etcd_disk_wal_fsync_duration_seconds_count')) / elapsed),
      txnCallsPerSec: Math.round((metricSum(b, 'grpc_server_handled_total', { grpc_method: 'Txn' }) - metricSum(a, 'grpc_server_handled_total', { grpc_method: 'Txn' })) / elapsed),
      proposalsPerSec: Math.round((metricSum(b, 'etcd_server_proposals_committed_total') - metricSum(a, 'etcd_server_proposals_committed_total')) / elapsed),
      peerRoundTripMs: delta(a, b, 'etcd_network_peer_round_trip_time_seconds') * 1000,
      txnHandledMs: delta(a, b, 'grpc_server_handling_seconds', { grpc_method: 'Txn' }) * 1000,
    };
  });
  const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
  console.log(`\n${Math.round(load.requestsPerSec)} req/s, p50 ${f1(load.latencyMs.p50)} ms, p99 ${f1(load.latencyMs.p99)} ms, ${load.errors} errors, over ${elapsed.toFixed(1)} s\n`);
  console.log('| process | CPU (% of one core) |\n|---|---:|');
  for (const [k, v] of Object.entries(cpuPct).sort()) console.log(`| ${k} | ${v} |`);
  console.log(`| machine busy | ${Math.round((machineBusy / TICKS / elapsed) * 100)} (of ${availableParallelism() * 100}) |`);
  console.log(`\nCPU per request in seqd and etcd: ${Math.round(((totalCpu / 100) * 1e6) / Math.max(1, load.requestsPerSec))} µs\n`);
  console.log('| instance | commits/s | requests per commit | queue ms | plan ms | forward ms | store commit ms | conflicts |\n|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of perInstance) console.log(`| ${r.instance} | ${r.commitsPerSec} | ${r.opsPerCommit} | ${f1(r.queueMs)} | ${f1(r.planMs)} | ${f1(r.forwardMs)} | ${f1(r.commitMs)} | ${r.conflicts} |`);
  console.log('\n| etcd member | leader | Txn calls/s | Txn handled ms | WAL fsync ms | fsyncs/s | backend commit ms | proposals committed/s | peer round trip ms |\n|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const e of etcd) console.log(`| ${e.member} | ${e.leader ? 'yes' : ''} | ${e.txnCallsPerSec} | ${f1(e.txnHandledMs)} | ${f1(e.walFsyncMs)} | ${e.fsyncsPerSec} | ${f1(e.backendCommitMs)} | ${e.proposalsPerSec} | ${f1(e.peerRoundTripMs)} |`);
  const etcdCpu = Object.entries(cpuPct).filter(([k]) => k.startsWith('etcd ')).reduce((a, [, v]) => a + v, 0);
  const proposals = Math.max(...etcd.map((e) => e.proposalsPerSec), 1);
  console.log(`\netcd CPU per committed proposal (the members together): ${f1((etcdCpu / 100 / proposals) * 1000)} ms; "Txn handled" is etcd's own time for a call, from its handler's start to its answer`);
  const outDir = join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'ha-profile.json'), JSON.stringify({ at: new Date().toISOString(), seconds: elapsed, connections: CONNECTIONS, load, cpuPct, perInstance, etcd }, null, 2));
  console.log('\nwritten: bench/results/ha-profile.json');
} finally {
  for (const i of [...instances].reverse()) await i.stop();
  rmSync(work, { recursive: true, force: true });
}
