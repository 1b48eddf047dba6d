/**
 * `npm run bench:backup -- [--events N] [--stores sqlite,etcd,postgres]`: backup and restore of a
 * store holding N audit events (default 1,000,000): a SQLite store filled through the planner
 * (allocations, a tenth of them keyed, releases refilled later), backed up with its snapshot and
 * restored into each kind of store, each restore verified. Prints times, sizes and peak RSS.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBackupFile } from '../src/backup/backup-file.js';
import { restoreBackup } from '../src/backup/restore.js';
import { walkBackup } from '../src/backup/backup-walk.js';
import { storeBackup } from '../src/backup/store-backup.js';
import { planBatch } from '../src/domain/planner.js';
import type { Op, SeriesState } from '../src/domain/types.js';
import { verifySeries } from '../src/service/verify-series.js';
import { EtcdStore } from '../src/storage/etcd/etcd-store.js';
import { PostgresStore } from '../src/storage/postgres/postgres-store.js';
import type { SequenceStore } from '../src/storage/sequence-store.js';
import { SQLITE_FILE, SqliteStore } from '../src/storage/sqlite/sqlite-store.js';
import { startTestCluster } from '../test/helpers/etcd-cluster.js';
import { startBenchPostgres } from './alternatives/postgres-server.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const EVENTS = Number(arg('events') ?? 1_000_000);
const STORES = (arg('stores') ?? 'sqlite,etcd,postgres').split(',');
const WINDOW = 24 * 3600_000;
const PER_BATCH = 2000;
const HOLDER = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' } as const;

let peakRss = 0;
const sample = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

async function fill(store: SequenceStore): Promise<number> {
  let state: SeriesState = await store.loadSeries('global', 1);
  let events = 0;
  let key = 0;
  for (let b = 0; events < EVENTS; b++) {
    const ops: Op[] = [];
    // Every tenth batch gives back a hundred numbers of the one before (refilled by the next).
    if (b % 10 === 9) for (let i = 0; i < 100; i++) ops.push({ kind: 'release', sequenceNumber: state.hwm - i * 7, ...HOLDER, reason: 'cancelled' });
    while (ops.length < PER_BATCH) ops.push({ kind: 'allocate', ...HOLDER, count: 1, ...(ops.length % 10 === 0 ? { requestId: `order-${++key}` } : {}) });
    const numbers = ops.flatMap((o) => (o.kind === 'release' ? [o.sequenceNumber] : []));
    const plan = planBatch(state, ops, await store.lookupNumbers('global', numbers), { batchId: `fill-${b}`, node: 'bench', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
    if (!plan.commit) throw new Error('nothing to commit');
    const r = await store.commit(plan.commit);
    if (r.status !== 'committed') throw new Error('fill: conflict');
    state = { ...plan.commit.next, version: r.version };
    events += plan.commit.events.length;
    if (b % 50 === 0) process.stderr.write(`fill: ${events} events\n`);
  }
  return events;
}

async function restoreInto(kind: string, file: string, open: () => Promise<SequenceStore>, cleanup: () => Promise<void>): Promise<string> {
  const store = await open();
  try {
    const t0 = performance.now();
    let verifyMs = 0;
    await restoreBackup(file, store.openLoader(), {
      verify: async () => {
        const t1 = performance.now();
        const report = await verifySeries('global', { store, start: 1, requestWindowMs: WINDOW, now: Date.now });
        verifyMs = performance.now() - t1;
        return report.valid ? null : (report.continuity.problem ?? 'invalid');
      },
      onProgress: (phase, n) => n % 100_000 < 1000 && process.stderr.write(`restore ${kind}: ${phase} ${n}\n`),
    });
    const total = performance.now() - t0;
    return `| restore into ${kind} | ${s(total - verifyMs)} | verify ${s(verifyMs)} |`;
  } finally {
    await store.close();
    await cleanup();
  }
}

/** Closes the series, writes its archive (checked), then removes it from the store: `seqd archive`'s steps. */
async function archiveWhole(store: SequenceStore, file: string): Promise<string[]> {
  const commit = async (op: Op) => {
    const state = await store.loadSeries('global', 1);
    const plan = planBatch(state, [op], new Map(), { batchId: `archive-${op.kind}`, node: 'bench', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
    if (!plan.commit || (await store.commit(plan.commit)).status !== 'committed') throw new Error(`${op.kind}: not committed`);
  };
  await commit({ kind: 'close', reason: 'period over' });
  const t0 = performance.now();
  const archive = await writeBackupFile(file, await storeBackup(store, { requestWindowMs: 0, series: 'global' }));
  const writeMs = performance.now() - t0;
  const t1 = performance.now();
  await walkBackup(file);
  const checkMs = performance.now() - t1;
  const head = archive.heads[0];
  if (!head) throw new Error('an archive without its series');
  const t2 = performance.now();
  await commit({ kind: 'archive', file, sha256: archive.sha256, headSeq: head.seq, headHash: head.hash, reason: 'bench' });
  let removed = 0;
  for (let n = await store.purgeArchived('global'); n > 0; n = await store.purgeArchived('global')) removed += n;
  const removeMs = performance.now() - t2;
  return [
    `| archive of the closed series (written and checked) | ${s(writeMs)} | ${mb(archive.bytes)}: ${archive.counts.events} events, ${archive.counts.numbers} number records |`,
    `| seqd archive verify (offline) | ${s(checkMs)} | |`,
    `| removal from the store (archive event, purge) | ${s(removeMs)} | ${removed} records deleted |`,
  ];
}

const dir = mkdtempSync(join(tmpdir(), 'seqd-bench-backup-'));
try {
  const source = new SqliteStore({ dataDir: join(dir, 'source') });
  const t0 = performance.now();
  const events = await fill(source);
  console.log(`source: ${events} events in one series, filled in ${s(performance.now() - t0)}`);
  const file = join(dir, 'one.seqd-backup');
  const t1 = performance.now();
  const backup = await writeBackupFile(file, await storeBackup(source, { requestWindowMs: WINDOW }));
  const backupMs = performance.now() - t1;
  const rows = [`| backup (SQLite snapshot, written and checked) | ${s(backupMs)} | ${mb(backup.bytes)}: ${backup.counts.events} events, ${backup.counts.numbers} number records, ${backup.counts.requests} idempotency records |`];
  rows.push(...(await archiveWhole(source, join(dir, 'global.seqd-archive'))));
  await source.close();
  if (STORES.includes('sqlite')) {
    rows.push(await restoreInto('SQLite', file, async () => new SqliteStore({ dataDir: join(dir, 'target') }), async () => undefined));
    // What a start-up costs on that file: opening it runs SQLite's quick check over every page.
    const t3 = performance.now();
    const reopened = new SqliteStore({ dataDir: join(dir, 'target') });
    const openMs = performance.now() - t3;
    await reopened.close();
    rows.push(`| open the restored SQLite file (start-up integrity check) | ${s(openMs)} | ${mb(statSync(join(dir, 'target', SQLITE_FILE)).size)} file |`);
  }
  if (STORES.includes('etcd')) {
    const tc = await startTestCluster();
    rows.push(await restoreInto('etcd (3 members)', file, async () => new EtcdStore({ endpoints: tc.cluster.endpoints, requestTimeoutMs: 5000 }), () => tc.dispose()));
  }
  if (STORES.includes('postgres')) {
    const pg = await startBenchPostgres(25432, 20);
    if ('reason' in pg) rows.push(`| restore into PostgreSQL | skipped: ${pg.reason} | |`);
    else {
      rows.push(
        await restoreInto('PostgreSQL', file, async () => {
          const store = new PostgresStore({ url: pg.url, schema: 'bench', poolSize: 4 });
          await store.open();
          return store;
        }, () => pg.stop()),
      );
    }
  }
  console.log('\n| step | time | size / detail |\n|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`\npeak RSS of the process: ${mb(peakRss)}`);
} finally {
  clearInterval(sample);
  rmSync(dir, { recursive: true, force: true });
}
