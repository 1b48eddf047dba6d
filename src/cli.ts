#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { startSeqd } from './app.js';
import { changeNumberingCommand } from './cli/change-numbering.js';
import { migrateSchemaCommand } from './cli/migrate-schema.js';
import { backupCommands } from './cli/backup-commands.js';
import { archiveCommands } from './cli/archive-commands.js';
import { maintenanceCommand } from './cli/maintenance-command.js';
import { migrateCommand } from './cli/migrate-command.js';
import { importLegacyCommand } from './cli/import-legacy-command.js';
import { clientCommands } from './cli/client-commands.js';
import { EXIT_HELP, usageExit } from './cli/exit-codes.js';
import { dataDirOf, loadConfig, logFileOf } from './config/config-loader.js';
import type { SeqdConfig } from './config/config-schema.js';
import { ConfigError, StoreIdentityError, StoreUnavailableError } from './domain/errors/index.js';
import { createLogger } from './logging/logger.js';
import { newApiKey, sha256Hex } from './security/api-keys.js';

const program = new Command()
  .name('seqd')
  .description('Strictly sequential invoice numbers with gap management and a hash-chained audit trail')
  // Before any command is added: commands inherit it. Usage errors exit 2, not 1 (an invalid trail).
  .exitOverride(usageExit)
  .addHelpText('afterAll', EXIT_HELP);

function port(value: string): string {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('a port is a number from 0 to 65535');
  return value;
}

program
  .command('serve')
  .description('run the service (HTTP API and dashboard)')
  .option('-p, --profile <name>', 'configuration profile: application-<name>.yml over application.yml (env SEQ_PROFILE)')
  .option('--port <port>', 'HTTP port (env SEQ_PORT; default 8080)', port)
  .option('--data-dir <dir>', 'data directory (env SEQ_DATA_DIR; default ./data)')
  .option('-c, --config <file>', 'extra YAML file overlaid on the profile')
  .action(async (opts: { profile?: string; port?: string; dataDir?: string; config?: string }) => {
    // Once the logger exists, a failed start is written to the log file too.
    let failed = (_error: unknown): void => undefined;
    try {
      const { config, profile, sources } = loadConfig({
        profile: opts.profile,
        port: opts.port,
        dataDir: opts.dataDir,
        configFile: opts.config,
      });
      const logger = createLogger({ level: config.logging.level, file: logFileOf(config), console: config.logging.console, consoleFormat: config.logging['console-format'] });
      failed = (error) => {
        logger.fatal({ err: error }, `failed to start: ${(error as Error).message}`);
        logger.flush();
      };
      const seqd = await startSeqd(config, { logger });
      seqd.logger.info(
        { profile, sources, storage: config.sequence.storage, node: seqd.service.node },
        `seqd listening on ${seqd.url} (profile ${profile ?? 'none'}, ${storeWhere(config)})`,
      );
      seqd.logger.info(`dashboard: ${seqd.url}/dashboard`);
      seqd.logger.info(`API:       ${seqd.url}/api/v1/sequence/stats`);
      if (seqd.internalUrl !== seqd.url) seqd.logger.info(`internal:  ${seqd.internalUrl}/internal/v1 (instances only)`);
      seqd.logger.info(`log file:  ${logFileOf(config) ?? 'none (logging.file: null)'}`);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        seqd.logger.info(`${signal}: finishing in-flight requests and closing the store`);
        // A shutdown that hangs (a store that never answers) still ends.
        setTimeout(() => {
          seqd.logger.error('shutdown took longer than 30 s: exiting anyway');
          process.exit(1);
        }, 30_000).unref();
        seqd.close().then(
          () => process.exit(0),
          (error: unknown) => {
            seqd.logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    } catch (error) {
      failed(error);
      if (error instanceof ConfigError) {
        console.error(`seqd: ${error.message}`);
        process.exit(2);
      }
      const code = (error as { code?: string }).code;
      if (code === 'EADDRINUSE') {
        console.error(`seqd: the port is already in use (${(error as Error).message}); choose another with --port or SEQ_PORT`);
        process.exit(2);
      }
      // The store refused (damaged, replaced, locked, unreachable): its message says what to do.
      if (error instanceof StoreIdentityError || error instanceof StoreUnavailableError) {
        console.error(`seqd: cannot start: ${error.message}`);
        process.exit(3);
      }
      console.error('seqd: failed to start:', error);
      process.exit(1);
    }
  });

program
  .command('new-key')
  .description('make a random API key; prints the key (give it to the client) and its SHA-256 (put it into security.api-keys)')
  .option('--name <name>', 'name of the key in the configuration', 'billing')
  .option('--roles <roles>', 'comma-separated roles: read, allocate, manage, admin, internal', 'allocate')
  .action((o: { name: string; roles: string }) => {
    const { key, sha256 } = newApiKey();
    console.log(`key:    ${key}`);
    console.log('config: security.api-keys:');
    console.log(`  - { name: ${o.name}, sha256: ${sha256}, roles: [${o.roles.split(',').map((r) => r.trim()).join(', ')}] }`);
  });

program
  .command('hash-key')
  .description('print the SHA-256 of an API key read from standard input (for security.api-keys)')
  .action(async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    console.log(sha256Hex(Buffer.concat(chunks).toString().trim()));
  });

clientCommands(program);
changeNumberingCommand(program);
migrateSchemaCommand(program);
backupCommands(program);
archiveCommands(program);
maintenanceCommand(program);
migrateCommand(program);
importLegacyCommand(program);

await program.parseAsync(process.argv);

/** Where the store is, for the start-up line (a PostgreSQL URL never holds a password: it is refused there). */
function storeWhere(config: SeqdConfig): string {
  const s = config.sequence;
  if (s.storage === 'postgres') return `postgres store: ${s.postgres.url}, schema ${s.postgres.schema}; data dir ${dataDirOf(config)}`;
  return `${s.storage} store in ${dataDirOf(config)}`;
}
