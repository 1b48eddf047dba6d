import type { Command } from 'commander';
import { loadConfig } from '../config/config-loader.js';
import { reportStoreCommandError } from './exit-codes.js';
import { postgresStoreOf } from '../storage/postgres/postgres-open.js';

interface Options {
  profile?: string;
  config?: string;
  dryRun?: boolean;
}

/**
 * `seqd migrate-schema`: the PostgreSQL schema's version and the migrations this seqd brings.
 * `seqd serve` applies them at start by itself (under an advisory lock); this shows them first
 * (`--dry-run`) or applies them ahead of a rollout.
 */
export function migrateSchemaCommand(program: Command): void {
  program
    .command('migrate-schema')
    .description('show (--dry-run) or apply the PostgreSQL schema migrations of this version')
    .option('-p, --profile <name>', 'configuration profile, as for serve (env SEQ_PROFILE)')
    .option('-c, --config <file>', 'extra YAML file overlaid on the profile')
    .option('--dry-run', 'only show the schema version and what would be applied')
    .action(async (o: Options) => {
      try {
        await run(o);
      } catch (error) {
        reportStoreCommandError(error);
      }
    });
}

async function run(o: Options): Promise<void> {
  const { config } = loadConfig({ profile: o.profile, configFile: o.config });
  if (config.sequence.storage !== 'postgres') {
    console.log(`the ${config.sequence.storage} store has no schema migrations: seqd brings its data up to date when it starts`);
    return;
  }
  const pg = config.sequence.postgres;
  const store = postgresStoreOf(pg, config.sequence.core['idempotency-window-seconds'] * 1000, process.env);
  try {
    const report = await store.pendingMigrations();
    console.log(`schema ${pg.schema}: version ${report.from}; this seqd knows ${report.to}`);
    for (const m of report.pending) console.log(`  ${o.dryRun ? 'would apply' : 'applying'} ${m.version}: ${m.description}`);
    if (report.pending.length === 0) console.log('nothing to apply');
    else if (o.dryRun) console.log('nothing written (run without --dry-run, or start seqd, to apply)');
    else {
      await store.open();
      console.log(`schema ${pg.schema} is at version ${report.to}`);
    }
  } finally {
    await store.close();
  }
}
