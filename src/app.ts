import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { dataDirOf, logFileOf } from './config/config-loader.js';
import type { SeqdConfig } from './config/config-schema.js';
import { ConfigError } from './domain/errors/index.js';
import { buildServer } from './http/server.js';
import { createLogger } from './logging/logger.js';
import { SequenceService } from './service/sequence-service.js';
import type { SequenceStore } from './storage/sequence-store.js';
import { SqliteStore } from './storage/sqlite/sqlite-store.js';

export interface RunningSeqd {
  readonly app: FastifyInstance;
  readonly service: SequenceService;
  readonly logger: Logger;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Replace the logger (tests pass a silent one). */
  readonly logger?: Logger;
}

function openStore(config: SeqdConfig): SequenceStore {
  if (config.sequence.storage === 'etcd') {
    throw new ConfigError('sequence.storage', 'the etcd store is not available in this build yet; use "sqlite"');
  }
  return new SqliteStore({ dataDir: dataDirOf(config) });
}

/** Opens the store, starts the service and listens. */
export async function startSeqd(config: SeqdConfig, options: StartOptions = {}): Promise<RunningSeqd> {
  const logger =
    options.logger ??
    createLogger({ level: config.logging.level, file: logFileOf(config), console: config.logging.console });
  const store = openStore(config);
  const port = config.server.port;
  const core = config.sequence.core;
  let service: SequenceService;
  try {
    service = await SequenceService.start({
      store,
      node: config.sequence['node-id'] ?? `${hostname()}:${port}`,
      start: core['global-counter-start'],
      gapRecoveryEnabled: core['gap-recovery-enabled'],
      sites: config.sequence.sites,
      maxCount: core['max-count'],
      simulatedEnabled: config.sequence['invoice-types'].simulated.enabled,
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  let shuttingDown = false;
  const demo = config.sequence.demo;
  const app = buildServer(service, {
    bodyLimit: config.server['body-limit-bytes'],
    gapReportLimit: core['gap-report-limit'],
    logger,
    isShuttingDown: () => shuttingDown,
    demo: {
      enabled: demo.enabled,
      maxTotalRequests: demo['max-total-requests'],
      maxThreads: demo['max-threads'],
      maxRequestsPerThread: demo['max-requests-per-thread'],
    },
  });
  await app.listen({ host: config.server.host, port });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const host = config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host;
  let closing: Promise<void> | null = null;
  return {
    app,
    service,
    logger,
    port: boundPort,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`,
    close: () => {
      closing ??= (async () => {
        shuttingDown = true;
        await app.close();
        await service.close();
      })();
      return closing;
    },
  };
}
