import type { Command } from 'commander';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { writeBackupFile } from '../backup/backup-file.js';
import { restoreBackup } from '../backup/restore.js';
import { storeBackup } from '../backup/store-backup.js';
import { dataDirOf, loadConfig } from '../config/config-loader.js';
import type { SeqdConfig } from '../config/config-schema.js';
import { SYSTEM_ACTORS } from '../domain/actors.js';
import { verifySeries } from '../service/verify-series.js';
import { openStore, type OpenedStore } from '../storage/open-store.js';
import { RESTORE_UNFINISHED } from '../storage/store-transfer.js';
import { failAdmin, UsageProblem } from './admin-api.js';
import { toolService } from './tool-service.js';

interface Options {
  from: string;
  to: string;
  fromProfile?: string;
  toProfile?: string;
  keepFile?: string;
}

/** The environment without what would make both configurations the same (profile, data directory, port). */
function ownEnv(): NodeJS.ProcessEnv {
  const { SEQ_PROFILE: _p, SEQ_DATA_DIR: _d, SEQ_PORT: _port, ...rest } = process.env;
  return rest;
}

/** Where a store is, to refuse migrating a store onto itself. */
function whereOf(config: SeqdConfig): string {
  const s = config.sequence;
  if (s.storage === 'sqlite') return `sqlite:${dataDirOf(config)}`;
  if (s.storage === 'postgres') return `postgres:${s.postgres.url}#${s.postgres.schema}`;
  return `etcd:${s.etcd.embedded ? s.etcd['data-directory'] : [...s.etcd.endpoints].sort().join(',')}`;
}

const AFTER_FAILURE: Record<Phase, string> = {
  checks: 'nothing was changed: the source serves as before.',
  'source frozen':
    'the migration stopped after the source was frozen for good (it never issues again): run the same seqd migrate again once the cause is fixed; it goes on from the frozen source and replaces what a restore left half-written in the target. The copy it made is kept (named above).',
  recording:
    'the target holds the whole numbering, verified, but the migrate event may or may not have been recorded: look at its trail (seqd audit, event migrate) before doing anything; if it is missing, switch the target\'s maintenance off (seqd maintenance off) to let it serve.',
  done: 'the migration itself completed (see above); only closing a store failed.',
};

/** Whether the store holds what a restore left unfinished (it refuses to open for that reason). */
async function unfinished(opened: OpenedStore): Promise<boolean> {
  try {
    await opened.store.loadIdentity();
    return false;
  } catch (error) {
    if (error instanceof Error && error.message.includes(RESTORE_UNFINISHED)) return true;
    throw error;
  }
}

const seconds = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

/**
 * `seqd migrate --from A.yml --to B.yml`: moves the numbering from one store to another of any
 * kind, unchanged. The source is switched to maintenance first (audited; every instance serving
 * it refuses to commit from then on, and it stays so: the numbering lives in the target now), a
 * snapshot of it is written to a checked backup file, restored into the target (which must be
 * empty) and verified there, and a `migrate` event in the target's trail records the move and
 * lets it serve.
 */
export function migrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('move the numbering from one store to another (SQLite, etcd, PostgreSQL), every number, gap and event hash unchanged; the source stays in maintenance')
    .requiredOption('--from <file>', 'configuration (YAML) of the store the numbering leaves')
    .requiredOption('--to <file>', 'configuration (YAML) of the empty store it moves to')
    .option('--from-profile <name>', 'profile the --from file is overlaid on')
    .option('--to-profile <name>', 'profile the --to file is overlaid on')
    .option('--keep-file <file>', 'also keep the backup file the move went through (default: removed once the target verified)')
    .action(async (o: Options) => {
      try {
        await migrate(o);
      } catch (error) {
        failAdmin(error);
        console.error(`seqd: ${AFTER_FAILURE[phase]}`);
      }
    });
}

/** How far a migration got: what to do after a failure depends on it. */
type Phase = 'checks' | 'source frozen' | 'recording' | 'done';
let phase: Phase = 'checks';

async function migrate(o: Options): Promise<void> {
  const t0 = performance.now();
  const from = loadConfig({ configFile: o.from, profile: o.fromProfile, env: ownEnv() }).config;
  const to = loadConfig({ configFile: o.to, profile: o.toProfile, env: ownEnv() }).config;
  if (whereOf(from) === whereOf(to)) throw new UsageProblem(`--from and --to name the same store (${whereOf(from)})`);
  const logger = pino({ level: 'warn' });
  const source = await openStore(from, logger);
  let target: OpenedStore | null = null;
  const dir = dataDirOf(to);
  mkdirSync(dir, { recursive: true });
  const file = o.keepFile ?? join(dir, `.seqd-migrate-${process.pid}.seqd-backup`);
  try {
    const held = await source.store.openLoader().contents();
    if (held.heads.size === 0) throw new UsageProblem('the source store holds no series: nothing to migrate');
    const settings = await source.store.loadSettings();
    const moved = settings.migratedTo;
    // Frozen for this very target by a migration that stopped: this run goes on from there.
    const resuming = moved === whereOf(to);
    if (moved !== undefined && !resuming) throw new UsageProblem(`the source's numbering moved to ${moved} already: migrate from there`);
    if (!resuming && settings.maintenance === true) {
      throw new UsageProblem(
        'the source is in maintenance (a restore not yet checked, or an operator\'s): a migration would end it in the target. Check the source, switch its maintenance off (seqd maintenance off), then migrate',
      );
    }
    // The target is checked before the source is touched: a refused move leaves the source serving.
    target = await openStore(to, logger);
    const there = await target.store.openLoader().contents();
    if (there.instances.length > 0) throw new UsageProblem(`seqd instances serve the target store (${there.instances.join(', ')}): stop them first`);
    const halfWritten = resuming && (await unfinished(target));
    if ((there.heads.size > 0 || there.storeId !== null) && !halfWritten) {
      throw new UsageProblem(
        resuming
          ? `the target store holds a finished copy (${there.heads.size} series): look at its trail for the migrate event (seqd audit, event migrate); if it is missing, switch the target's maintenance off to let it serve`
          : `the target store is not empty (${there.heads.size} series): a migration goes into an empty store`,
      );
    }
    if (resuming) {
      phase = 'source frozen';
      console.log(`source (${source.store.kind}) frozen for this target by an earlier run: going on${halfWritten ? ', replacing the half-written target' : ''}`);
    } else {
      const sourceService = await toolService(from, source.store, 'migrate');
      try {
        // For good: a store the numbering left must never issue again (maintenance cannot be switched off).
        await sourceService.setMaintenance(true, `migrating to the ${to.sequence.storage} store (${whereOf(to)})`, SYSTEM_ACTORS.migrate, whereOf(to));
        phase = 'source frozen';
      } finally {
        await sourceService.close();
      }
      console.log(`source (${source.store.kind}) in maintenance: it commits nothing from now on (${seconds(t0)})`);
    }
    const window = from.sequence.core['idempotency-window-seconds'] * 1000;
    const backup = await writeBackupFile(file, await storeBackup(source.store, { requestWindowMs: window }));
    console.log(`copied: ${backup.counts.series} series, ${backup.counts.events} events, ${backup.counts.numbers} number records, ${backup.counts.requests} idempotency records (${seconds(t0)})`);
    const store = target.store;
    await restoreBackup(file, store.openLoader(), {
      replace: halfWritten,
      maintenance: 'migration in progress',
      verify: async () => {
        for (const series of await store.listSeries()) {
          const report = await verifySeries(series, { store, start: 1, requestWindowMs: window, now: Date.now });
          if (!report.valid) return `${series}: ${report.continuity.problem ?? report.derived.problems[0] ?? 'invalid'}`;
        }
        return null;
      },
    });
    console.log(`restored into the ${store.kind} store and verified (${seconds(t0)})`);
    phase = 'recording';
    const targetService = await toolService(to, store, 'migrate');
    try {
      const heads = backup.heads.map((h) => `${h.series}@${h.seq}`).join(', ');
      await targetService.recordMigration(`from the ${source.store.kind} store ${backup.storeId ?? '(no id)'} at ${backup.header.store.position}: ${backup.counts.series} series (${heads})`, SYSTEM_ACTORS.migrate);
    } finally {
      await targetService.close();
    }
    phase = 'done';
    console.log(`migrated in ${seconds(t0)}: the ${store.kind} store serves the numbering now (a migrate event records it); point every seqd at ${o.to}`);
    for (const h of backup.heads) console.log(`  ${h.series}: high-water mark ${h.hwm}, head ${h.seq}:${h.hash}`);
    console.log(`the ${source.store.kind} source stays in maintenance: it never issues again`);
  } finally {
    // Kept after a failure past the freeze: it is the copy of a numbering that no longer serves.
    if (o.keepFile === undefined && (phase === 'done' || phase === 'checks')) rmSync(file, { force: true });
    else if (phase !== 'done' && existsSync(file)) console.error(`seqd: the copy of the source is kept in ${file}`);
    await target?.close();
    await source.close();
  }
}
