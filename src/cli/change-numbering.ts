import type { Command } from 'commander';
import pino from 'pino';
import { numberingOf } from '../app.js';
import { SYSTEM_ACTORS } from '../domain/actors.js';
import { loadConfig, printingSeriesOf, seriesBasesOf } from '../config/config-loader.js';
import { ConfigError, StoreIdentityError } from '../domain/errors/index.js';
import { canonical, numberingChanges, seriesFits, type NumberingChange } from '../domain/numbering-profile.js';
import { printedAgainProblem, printedFormats } from '../domain/printed-frames.js';
import { replacementTime, stampFloorOf, stampLeadProblem } from '../domain/printed-text.js';
import { isInternalSeries } from '../domain/series-strategy.js';
import { reportStoreCommandError } from './exit-codes.js';
import { toolService } from './tool-service.js';
import { openStore } from '../storage/open-store.js';
import type { SequenceStore, StoreIdentity } from '../storage/sequence-store.js';
import { historyOf, printedFingerprint, withLastStamp, withNumbering } from '../storage/printed-check.js';

interface Options {
  profile?: string;
  config?: string;
  dataDir?: string;
  apply?: boolean;
}

/**
 * `seqd change-numbering`: the one way to move a store that issued numbers to another series
 * split, rollover or format. Shows what changes; with `--apply` closes every open series the new
 * configuration no longer maps to (open gaps become void, a `close` event keeps the final state),
 * records a `numbering` event saying what changed and where the new series start, and makes the
 * new numbering the store's. Run it with every seqd on the store stopped.
 */
export function changeNumberingCommand(program: Command): void {
  program
    .command('change-numbering')
    .description('record a change of split-by, rollover or formats in the audit trail (run with seqd stopped); without --apply only shows it')
    .option('-p, --profile <name>', 'configuration profile, as for serve (env SEQ_PROFILE)')
    .option('-c, --config <file>', 'extra YAML file overlaid on the profile')
    .option('--data-dir <dir>', 'data directory (env SEQ_DATA_DIR)')
    .option('--apply', 'close the old series and record the change (default: only show it)')
    .action(async (o: Options) => {
      try {
        const { config } = loadConfig({ profile: o.profile, configFile: o.config, dataDir: o.dataDir });
        const logger = pino({ level: 'warn' });
        const opened = await openStore(config, logger);
        try {
          process.exitCode = await run(o, config, opened);
        } finally {
          await opened.close();
        }
      } catch (error) {
        reportStoreCommandError(error);
      }
    });
}

async function run(o: Options, config: ReturnType<typeof loadConfig>['config'], opened: Awaited<ReturnType<typeof openStore>>): Promise<number> {
  const { store } = opened;
  const { strategy, profile } = numberingOf(config);
  const start = config.sequence.core['global-counter-start'];
  const identity = await store.loadIdentity();
  if (!identity) {
    console.log('this store has no recorded numbering yet: start seqd once and it records the configured one');
    return 0;
  }
  // Before anything is read (the change is dated after the events read below), and again before
  // anything is written.
  if (o.apply) await refuseRunningInstances(store);
  const names = (await store.listSeries()).filter((n) => !isInternalSeries(n));
  const states = await Promise.all(names.map(async (n) => withLastStamp(store, await store.loadSeries(n, start))));
  const issued = states.filter((s) => s.hwm >= s.start);
  const changes = numberingChanges(identity.numbering, profile, issued.map((s) => s.series));
  if (changes.length === 0) {
    console.log('the configured numbering is the store\'s: nothing to change');
    return 0;
  }
  // A new series must not print again what a closed one printed (same frame, counting from the start again).
  const bases = seriesBasesOf(config);
  const now = Date.now();
  const printed = printedFormats(historyOf(identity), profile, bases, issued, now);
  const problem = printedAgainProblem(printingSeriesOf(config), printed, now - config.sequence.core['idempotency-window-seconds'] * 1000, strategy.rollover?.timeZone ?? null);
  if (problem) throw new ConfigError(problem.key, problem.message);
  const clockProblem = stampLeadProblem(now, states);
  if (clockProblem) throw new StoreIdentityError(clockProblem);
  const toClose = states.filter((s) => s.closedAt === null && !seriesFits(strategy, s.series));
  const summary = describe(changes, start);
  console.log(`store ${identity.storeId}: ${summary}`);
  for (const s of toClose) console.log(`  close ${s.series} (high-water mark ${s.hwm}, ${s.openGaps.length} open gaps become void)`);
  if (!o.apply) {
    console.log('nothing written: run again with --apply (every seqd on this store stopped) to close these series and record the change');
    return 0;
  }
  // Dated after every event stored now (read before this command's own close events, which print
  // nothing): those print as before, every later commit with the new numbering.
  const replacedAt = replacementTime(
    states.map((s) => s.lastEventAt),
    stampFloorOf(identity.formerNumbering),
  );
  await refuseRunningInstances(store);
  const service = await toolService(config, store, 'change-numbering');
  try {
    for (const s of toClose) {
      const r = await service.closeSeries(s.series, `numbering changed: ${summary}`, SYSTEM_ACTORS.changeNumbering);
      console.log(`closed ${s.series}${r.closed ? '' : ' (it was closed already)'}; ${r.voided} open gaps made void`);
    }
    await service.recordNumberingChange(summary, SYSTEM_ACTORS.changeNumbering);
  } finally {
    await service.close();
  }
  const next = withNumbering(identity, profile, replacedAt);
  const wanted: StoreIdentity = { ...next, printedChecked: printedFingerprint(next, bases) };
  const saved = await store.saveIdentity(wanted, identity);
  if (canonical(saved) !== canonical(wanted)) {
    throw new StoreIdentityError(
      'another seqd saved its numbering in this store while the command ran: the series above are closed and the change is in the trail, but seqd does not start with the new numbering yet. Stop every seqd on this store and run the command again',
    );
  }
  console.log(`recorded: seqd now starts with the new numbering; commits from ${new Date(replacedAt).toISOString()} on print with it`);
  return 0;
}

/** etcd lists the instances that serve it (SQLite's lock refuses a second process; PostgreSQL cannot tell). */
async function refuseRunningInstances(store: SequenceStore): Promise<void> {
  const { instances } = await store.openLoader().contents();
  if (instances.length > 0) throw new StoreIdentityError(`seqd instances serve this store (${instances.join(', ')}): stop every one, then apply the change`);
}

function describe(changes: readonly NumberingChange[], start: number): string {
  const parts = changes.map((c) => `${c.key}: ${c.was} → ${c.now}`);
  const newSeries = changes.some((c) => c.kind === 'series');
  return `${parts.join('; ')}${newSeries ? `; new series start at ${start}` : ''}`;
}
