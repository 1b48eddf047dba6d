import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import pino from 'pino';
import { loadConfig, seriesBasesOf } from '../config/config-loader.js';
import { SYSTEM_ACTORS } from '../domain/actors.js';
import { seriesFits } from '../domain/numbering-profile.js';
import { parseSeriesName } from '../domain/series-strategy.js';
import { numberingOf } from '../app.js';
import { openStore } from '../storage/open-store.js';
import { failAdmin, UsageProblem } from './admin-api.js';
import { LegacyCsvError, parseLegacyCsv } from './legacy-csv.js';
import { toolService } from './tool-service.js';

interface Options {
  source: string;
  profile?: string;
  config?: string;
  dataDir?: string;
}

/**
 * `seqd import-legacy FILE.csv --source "…"`: starts series where another numbering system left
 * off. Every series of the file must not have issued a number yet; each gets one `import` event
 * (source, file name and SHA-256, last number, gap count) and its known gaps as void, in one
 * commit per series. Run with every seqd on the store stopped.
 */
export function importLegacyCommand(program: Command): void {
  program
    .command('import-legacy <file>')
    .description('start series where a legacy numbering left off: per series its last issued number and its known gaps (CSV: series,number,status,reason; status last or gap); run with seqd stopped')
    .requiredOption('--source <text>', 'the system and export the numbers come from (written into the audit trail)')
    .option('-p, --profile <name>', 'configuration profile, as for serve (env SEQ_PROFILE)')
    .option('-c, --config <file>', 'extra YAML file overlaid on the profile')
    .option('--data-dir <dir>', 'data directory (env SEQ_DATA_DIR)')
    .action(async (file: string, o: Options) => {
      try {
        await importLegacy(file, o);
      } catch (error) {
        failAdmin(error instanceof LegacyCsvError ? new UsageProblem(`${file}: ${error.message}; nothing was imported`) : error);
      }
    });
}

async function importLegacy(file: string, o: Options): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new UsageProblem(`cannot read ${file}: ${(error as Error).message}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const legacy = parseLegacyCsv(bytes.toString('utf8'));
  if (o.source.trim() === '' || o.source.length > 80) throw new UsageProblem('--source: 1 to 80 characters');
  const { config } = loadConfig({ profile: o.profile, configFile: o.config, dataDir: o.dataDir });
  const { strategy } = numberingOf(config);
  const misfit = legacy.find((l) => !seriesFits(strategy, l.series));
  if (misfit) throw new UsageProblem(`series ${misfit.series} is not one the configured series split can produce; nothing was imported`);
  // Only into series the configured sites, partitions and types map to: their printed frames are
  // kept apart from each other at start, which a series of another base would escape.
  const bases = seriesBasesOf(config);
  const unknown = legacy.find((l) => !bases.has(parseSeriesName(l.series).base));
  if (unknown) throw new UsageProblem(`series ${unknown.series} is not one of the configured sites, partitions and types (sequence.sites); nothing was imported`);
  const opened = await openStore(config, pino({ level: 'warn' }));
  try {
    // Checked for every series before any is written: the file is imported whole or not at all.
    const start = config.sequence.core['global-counter-start'];
    for (const l of legacy) {
      const state = await opened.store.loadSeries(l.series, start);
      if (state.hwm >= state.start) throw new UsageProblem(`series ${l.series} has issued numbers already (up to ${state.hwm}): an import starts a series; nothing was imported`);
      if (l.last < state.start) throw new UsageProblem(`series ${l.series}: its last number ${l.last} is below the series start ${state.start}; nothing was imported`);
      const below = l.gaps.find((g) => g.number < state.start);
      if (below) throw new UsageProblem(`series ${l.series}: gap ${below.number} is below the series start ${state.start}; nothing was imported`);
    }
    const service = await toolService(config, opened.store, 'import-legacy');
    try {
      for (const l of legacy) {
        const reason = `imported from ${o.source} (${basename(file)}, sha256 ${sha256}): last ${l.last}, ${l.gaps.length} known gaps`;
        await service.importLegacy(l.series, l.last, l.gaps, reason, SYSTEM_ACTORS.importLegacy);
        console.log(`${l.series}: numbers ${start}..${l.last} imported (${l.gaps.length} known gaps void); the next number is ${l.last + 1}`);
      }
    } finally {
      await service.close();
    }
    console.log(`imported ${legacy.length} series from ${file} (sha256 ${sha256})`);
  } finally {
    await opened.close();
  }
}
