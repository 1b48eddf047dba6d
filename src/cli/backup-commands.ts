import type { Command } from 'commander';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { stat } from 'node:fs/promises';
import pino from 'pino';
import { saveBackup, writeBackupFile } from '../backup/backup-file.js';
import type { BackupSummary } from '../backup/backup-walk.js';
import { restoreBackup } from '../backup/restore.js';
import { storeBackup } from '../backup/store-backup.js';
import { loadConfig } from '../config/config-loader.js';
import type { SeqdConfig } from '../config/config-schema.js';
import { verifySeries } from '../service/verify-series.js';
import { openStore } from '../storage/open-store.js';
import { adminRequest, failAdmin, UsageProblem, type AdminTarget } from './admin-api.js';

interface StoreOptions {
  profile?: string;
  config?: string;
  dataDir?: string;
}

const withStore = (cmd: Command) =>
  cmd
    .option('-p, --profile <name>', 'configuration profile, as for serve (env SEQ_PROFILE)')
    .option('-c, --config <file>', 'extra YAML file overlaid on the profile')
    .option('--data-dir <dir>', 'data directory (env SEQ_DATA_DIR)');

/** Prints one progress line on stderr at most every second (long work shows progress). */
export function ticker(): (line: () => string) => void {
  let last = 0;
  return (line) => {
    const now = Date.now();
    if (now - last < 1000) return;
    last = now;
    process.stderr.write(`${line()}\n`);
  };
}

export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function describe(s: BackupSummary & { bytes?: number }): string {
  const c = s.counts;
  return `${c.series} series, ${c.events} events, ${c.numbers} number records, ${c.requests} idempotency records${s.bytes === undefined ? '' : `, ${mb(s.bytes)}`}`;
}

const requestWindowMs = (config: SeqdConfig) => config.sequence.core['idempotency-window-seconds'] * 1000;

/**
 * `seqd backup` and `seqd restore`. A backup is taken from a running instance through its admin
 * API (any store), or with `--offline` straight from the configured store; the file is written
 * under a temporary name, read back and checked, then renamed into place. A restore checks the
 * whole file before writing anything, refuses a store that holds data unless told to replace it,
 * and ends with a full verify of every series.
 */
export function backupCommands(program: Command): void {
  withStore(
    program
      .command('backup')
      .description('write a backup of the whole store to a file (from a running instance, or --offline from the configured store)')
      .requiredOption('--out <file>', 'the backup file to write (complete and checked, or not there at all)')
      .option('--url <url>', 'the running seqd to back up (env SEQD_URL; default http://127.0.0.1:8080)')
      .option('--api-key <key>', 'an API key with role admin, when the server requires keys (env SEQD_API_KEY)')
      .option('--offline', 'read the configured store directly instead of asking a running instance (etcd, PostgreSQL, or a stopped embedded store)'),
  ).action(async (o: StoreOptions & { out: string; url?: string; apiKey?: string; offline?: boolean }) => {
    try {
      if (await stat(o.out).then(() => true, () => false)) throw new UsageProblem(`${o.out} exists: a backup never overwrites a file; choose another name`);
      const t0 = performance.now();
      const summary = o.offline ? await offlineBackup(o) : await apiBackup(o);
      console.log(`backup written: ${o.out} (${describe(summary)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      for (const h of summary.heads) console.log(`  ${h.series}: high-water mark ${h.hwm}, head ${h.seq}:${h.hash}`);
    } catch (error) {
      failAdmin(error);
    }
  });

  withStore(
    program
      .command('restore <file>')
      .description('restore a backup into the configured store (empty, or --replace), then verify every series (run with seqd stopped)')
      .option('--replace', 'delete what the store holds first (default: refuse a store that holds data)')
      .option('--allow-older', 'with --replace: replace the store the backup came from even when it holds events the backup does not (they would be lost and their numbers given again)'),
  ).action(async (file: string, o: StoreOptions & { replace?: boolean; allowOlder?: boolean }) => {
    try {
      const { config } = loadConfig({ profile: o.profile, configFile: o.config, dataDir: o.dataDir });
      const logger = pino({ level: 'warn' });
      const t0 = performance.now();
      const tick = ticker();
      const opened = await openStore(config, logger);
      try {
        const store = opened.store;
        // Every series is verified before the store is unmarked: one that does not verify leaves it unfinished.
        const verify = async (): Promise<string | null> => {
          const t1 = performance.now();
          console.log(`written in ${((t1 - t0) / 1000).toFixed(1)} s; verifying every series`);
          const problems: string[] = [];
          for (const series of await store.listSeries()) {
            const report = await verifySeries(series, { store, start: 1, requestWindowMs: requestWindowMs(config), now: Date.now, onProgress: (n) => tick(() => `verify ${series}: ${n} events`) });
            const problem = report.valid ? null : (report.continuity.problem ?? report.derived.problems[0] ?? 'invalid');
            if (problem) problems.push(`${series}: ${problem}`);
            console.log(`  ${series}: ${problem ? `INVALID: ${problem}` : 'valid'} (${report.eventsChecked} events)`);
          }
          console.log(`verify ${problems.length === 0 ? 'passed' : 'FAILED'} in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
          return problems[0] ?? null;
        };
        const summary = await restoreBackup(file, store.openLoader(), {
          replace: o.replace === true,
          allowOlder: o.allowOlder === true,
          verify,
          onProgress: (phase, events) => tick(() => `restore: ${phase === 'check' ? 'checked' : 'written'} ${events} events`),
        });
        console.log(`restored ${file} into the ${store.kind} store (${describe(summary)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        console.log(
          `the store is in maintenance: it issues nothing until you switch maintenance off (seqd maintenance off --reason '...'), once you know no number above the restored high-water marks was issued after the backup (taken ${new Date(summary.header.createdAt).toISOString()})`,
        );
      } finally {
        await opened.close();
      }
    } catch (error) {
      failAdmin(error);
    }
  });
}

async function offlineBackup(o: StoreOptions & { out: string }) {
  const { config } = loadConfig({ profile: o.profile, configFile: o.config, dataDir: o.dataDir });
  const opened = await openStore(config, pino({ level: 'warn' }));
  const tick = ticker();
  try {
    const lines = await storeBackup(opened.store, { requestWindowMs: requestWindowMs(config), onProgress: (p) => tick(() => `backup: series ${p.series}/${p.seriesTotal}, ${p.events} events`) });
    return await writeBackupFile(o.out, lines);
  } finally {
    await opened.close();
  }
}

function apiBackup(o: { out: string; url?: string; apiKey?: string }) {
  return saveStreamed(o, '/api/v1/admin/backup', undefined, 'backup');
}

/** Saves a backup or archive an admin route streams into `o.out` (checked, then renamed: see `saveBackup`). */
export async function saveStreamed(o: AdminTarget & { out: string }, route: string, body: unknown, label: string) {
  const res = await adminRequest(o, 'POST', route, body);
  if (!res.body) throw new Error(`the ${label} answer has no body`);
  const tick = ticker();
  let received = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      tick(() => `${label}: ${mb(received)} received`);
      done(null, chunk);
    },
  });
  return saveBackup(o.out, [Readable.fromWeb(res.body as ReadableStream<Uint8Array>), count]);
}

