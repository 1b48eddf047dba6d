/**
 * `npm run bench:many-series`: what many series and a long trail cost. Writes, straight through
 * the embedded store (no HTTP), `--series` series named site × invoice type × year (the last 8
 * years; all but this year's closed just after their year ended, as rollover leaves them) with
 * `--events` events each, plus one series holding `--trail-events` events; then starts seqd on
 * that data and reports the
 * start-up time, the resident size, and how long stats, the series list, /metrics and the first
 * dashboard snapshot take.
 *
 *   npm run bench:many-series -- --series 10000 --events 10 --trail-events 1000000
 *
 * Writes bench/results/many-series.json.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { planBatch } from '../src/domain/planner.js';
import { INVOICE_TYPES, type Op, type SeriesState } from '../src/domain/types.js';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.js';
import { startInstance } from './lib/seqd-instances.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    series: { type: 'string', default: '10000' },
    events: { type: 'string', default: '10' },
    'trail-events': { type: 'string', default: '1000000' },
    /** Leave the data directory (its path is printed) for a closer look, or for `--reuse`. */
    keep: { type: 'boolean', default: false },
    /** Start on a data directory an earlier run left (`--keep`, the same `--series`): no writing. */
    reuse: { type: 'string' },
  },
});
const SERIES = Number(values.series);
const EVENTS = Number(values.events);
const TRAIL = Number(values['trail-events']);
const YEAR = new Date().getUTCFullYear();
const YEARS = Array.from({ length: 8 }, (_, i) => YEAR - 7 + i);
const SITES = Math.ceil(SERIES / (INVOICE_TYPES.length * YEARS.length));

const dir = values.reuse ?? mkdtempSync(join(tmpdir(), 'seqd-many-series-'));
const progress = (label: string, done: number, total: number) => process.stdout.write(`\r… ${label}: ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}   `);

async function commit(store: SqliteStore, state: SeriesState, ops: Op[], n: number, now = Date.now()): Promise<SeriesState> {
  const plan = planBatch(state, ops, new Map(), { batchId: `bench-${n}`, node: 'bench', now, gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
  if (!plan.commit) throw new Error('nothing to commit');
  const r = await store.commit(plan.commit);
  if (r.status !== 'committed') throw new Error(`commit refused: ${r.status}`);
  return { ...plan.commit.next, version: r.version };
}

const started = performance.now();
let made = values.reuse ? SERIES : 0;
if (!values.reuse) await write();
async function write(): Promise<void> {
  const store = new SqliteStore({ dataDir: dir });
  let n = 0;
  try {
    for (let s = 0; s < SITES && made < SERIES; s++) {
      for (const type of INVOICE_TYPES) {
        for (const year of YEARS) {
          if (made >= SERIES) break;
          const site = `site-${s + 1}`;
          let state = await store.loadSeries(`${site}:${type}@${year}`, 1);
          const alloc: Op = { kind: 'allocate', siteId: site, partitionId: 'p', invoiceType: type, count: 1 };
          // Past years as they happened: numbers during the year, the close just after it ended.
          const during = year < YEAR ? Date.UTC(year, 6, 1) : Date.now();
          state = await commit(store, state, Array.from({ length: EVENTS }, () => alloc), n++, during);
          if (year < YEAR) await commit(store, state, [{ kind: 'close', reason: 'period ended' }], n++, Date.UTC(year + 1, 0, 1, 0, 5));
          if (++made % 500 === 0) progress('series written', made, SERIES);
        }
      }
    }
    process.stdout.write('\n');
    // One long-lived series with a long trail: 2,000 events per commit.
    let state = await store.loadSeries(`site-1:on-cycle@${YEAR}`, 1);
    const alloc: Op = { kind: 'allocate', siteId: 'site-1', partitionId: 'p', invoiceType: 'on-cycle', count: 1 };
    for (let done = 0; done < TRAIL; done += 2000) {
      state = await commit(store, state, Array.from({ length: Math.min(2000, TRAIL - done) }, () => alloc), n++);
      if ((done / 2000) % 50 === 0) progress('trail events written', done, TRAIL);
    }
    process.stdout.write('\n');
  } finally {
    await store.close();
  }
  console.log(`written in ${((performance.now() - started) / 1000).toFixed(0)} s: ${made.toLocaleString('en-US')} series, ${(made * EVENTS + TRAIL).toLocaleString('en-US')} events`);
}

const config = join(dir, 'bench-many.yml');
const sites = Array.from({ length: SITES }, (_, i) => `    - { id: site-${i + 1}, partitions: [p] }`);
writeFileSync(config, ['sequence:', '  series:', '    split-by: [site, invoice-type]', '    rollover: { enabled: true, time-zone: UTC }', '  sites:', ...sites, ''].join('\n'));

const rssMb = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024);
const t0 = performance.now();
const seqd = await startInstance(ROOT, ['--profile', 'poc', '--data-dir', dir, '--config', config]);
const startupMs = Math.round(performance.now() - t0);
const rssAfterStart = rssMb(seqd.pid);

/** The first call's time, the median of three more, and the size of the last answer. */
async function timed(path: string): Promise<{ firstMs: number; ms: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 4; i++) {
    const t = performance.now();
    const res = await fetch(`${seqd.url}${path}`);
    bytes = (await res.arrayBuffer()).byteLength;
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    times.push(performance.now() - t);
  }
  const [first, ...more] = times;
  return { firstMs: Math.round(first ?? NaN), ms: Math.round(more.sort((a, b) => a - b)[1] ?? NaN), bytes };
}

async function firstSnapshot(): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  const res = await fetch(`${seqd.url}/api/v1/dashboard/stream`);
  const reader = res.body?.getReader();
  let text = '';
  const decoder = new TextDecoder();
  while (reader && !/event: snapshot\ndata: [^\n]*\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader?.cancel();
  const data = /event: snapshot\ndata: ([^\n]*)\n/.exec(text)?.[1] ?? '';
  return { ms: Math.round(performance.now() - t), bytes: data.length };
}

/** When the integrity check of the whole file ended (ms from spawn) and how; before serving for a small file. */
async function wholeFileCheck(): Promise<{ status: string; endedMs: number }> {
  for (;;) {
    const ready = (await (await fetch(`${seqd.url}/ready`)).json()) as { store: { detail: { integrityCheck?: string } } };
    const status = ready.store.detail.integrityCheck ?? 'unknown';
    if (status !== 'running after start') return { status, endedMs: Math.round(performance.now() - t0) };
    await new Promise((done) => setTimeout(done, 100));
  }
}

try {
  // The dashboard's first snapshot comes first: the other reads would warm what it reads.
  const dashboardSnapshot = await firstSnapshot();
  const results = {
    series: made,
    eventsPerSeries: EVENTS,
    trailEvents: TRAIL,
    startupMs,
    rssMbAfterStart: rssAfterStart,
    stats: await timed('/api/v1/sequence/stats'),
    seriesList: await timed('/api/v1/sequence/series'),
    statsOfOpenSeries: await timed('/api/v1/sequence/stats?status=open'),
    pageOfOpenSeries: await timed('/api/v1/sequence/series?status=open&limit=100'),
    metrics: await timed('/metrics'),
    dashboardSnapshot,
    // A page opened later: every tick costs about this.
    dashboardSnapshotLater: await firstSnapshot(),
    rssMbAfterReads: rssMb(seqd.pid),
    // The reads above ran while it read the file.
    integrityCheck: await wholeFileCheck(),
  };
  console.log(`\n| what | first call | later calls (median of 3) | answer size |\n|---|---:|---:|---:|`);
  console.log(`| start-up (spawn to listening) | ${startupMs} ms | | |`);
  console.log(`| integrity check of the whole file: ${results.integrityCheck.status} | ended ${results.integrityCheck.endedMs} ms after spawn | | |`);
  console.log(`| first dashboard snapshot (before the reads below) | ${dashboardSnapshot.ms} ms | | ${dashboardSnapshot.bytes.toLocaleString('en-US')} B |`);
  console.log(`| dashboard snapshot of a page opened after them (as every tick) | ${results.dashboardSnapshotLater.ms} ms | | ${results.dashboardSnapshotLater.bytes.toLocaleString('en-US')} B |`);
  for (const k of ['stats', 'seriesList', 'statsOfOpenSeries', 'pageOfOpenSeries', 'metrics'] as const) {
    console.log(`| ${k} | ${results[k].firstMs} ms | ${results[k].ms} ms | ${results[k].bytes.toLocaleString('en-US')} B |`);
  }
  console.log(`\nRSS: ${rssAfterStart} MB after start-up, ${results.rssMbAfterReads} MB after the reads`);
  const outDir = join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'many-series.json'), JSON.stringify({ at: new Date().toISOString(), ...results }, null, 2));
  console.log('written: bench/results/many-series.json');
} finally {
  await seqd.stop();
  if (values.keep || values.reuse) console.log(`data left in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
