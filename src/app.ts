import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ApiKeys } from './security/api-keys.js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { dataDirOf, logFileOf, printingSeriesOf, seriesBasesOf } from './config/config-loader.js';
import type { SeqdConfig } from './config/config-schema.js';
import { buildServer } from './http/server.js';
import { createLogger } from './logging/logger.js';
import { CommitForwarder } from './service/forwarding/commit-forwarder.js';
import { ExpirySweeper } from './service/expiry-sweeper.js';
import { SYSTEM_ACTORS } from './domain/actors.js';
import { isInternalSeries, parseSeriesName, periodEnded, type SeriesStrategy } from './domain/series-strategy.js';
import type { NumberFormat } from './domain/number-format.js';
import { SeqdMetrics } from './observability/metrics.js';
import { RolloverCloser } from './service/rollover-closer.js';
import { SequenceService } from './service/sequence-service.js';
import { openStore, type OpenedStore } from './storage/open-store.js';
import type { SequenceStore } from './storage/sequence-store.js';
import type { StoreIdentity } from './storage/sequence-store.js';
import { checkStoreIdentity, StoreMarkerKeeper } from './storage/store-identity.js';
import { profileOf, type NumberingProfile } from './domain/numbering-profile.js';
import { InternalListener } from './http/internal-listener.js';
import { MaintenanceError } from './domain/errors/index.js';
import { isLiveSeries } from './domain/live-series.js';
import { BackupScheduler } from './service/backup-scheduler.js';
import { resolve } from 'node:path';

export interface RunningSeqd {
  readonly app: FastifyInstance;
  readonly service: SequenceService;
  readonly logger: Logger;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** Where the instance-to-instance routes are served: `url`, or the `server.internal-port`. */
  readonly internalUrl: string;
  /** The store and, on the managed etcd cluster, the cluster itself. */
  readonly opened: OpenedStore;
  /** Closes the series of ended periods (null without a rollover). */
  readonly rollover: RolloverCloser | null;
  /** Writes the scheduled backups (null when `backup.interval` is 0). */
  readonly backups: BackupScheduler | null;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Replace the logger (tests pass a silent one). */
  readonly logger?: Logger;
  /** Replace the clock of the service and the rollover (tests of period ends). */
  readonly now?: () => number;
  /**
   * Wraps the opened store: the history checker's own tests run seqd on stores broken on purpose,
   * to show that the checker catches them.
   */
  readonly wrapStore?: (store: SequenceStore) => SequenceStore;
}

/** How often settings are read again from the store (toggles made on other instances). */
const SETTINGS_REFRESH_MS = 2000;
/** How often series stopped by a state mismatch are checked again without a request (ms). */
const STOPPED_RECHECK_MS = 5000;

/** How often expired idempotency records are swept (etcd). */
const KEY_SWEEP_EVERY_MS = 60_000;

/** Opens the store, starts the service and listens. */
export async function startSeqd(config: SeqdConfig, options: StartOptions = {}): Promise<RunningSeqd> {
  const logger =
    options.logger ??
    createLogger({ level: config.logging.level, file: logFileOf(config), console: config.logging.console, consoleFormat: config.logging['console-format'] });
  const unwrapped = await openStore(config, logger);
  const opened = options.wrapStore ? { ...unwrapped, store: options.wrapStore(unwrapped.store) } : unwrapped;
  const port = config.server.port;
  const core = config.sequence.core;
  const node = config.sequence['node-id'] ?? `${hostname()}:${port}`;
  const roll = config.sequence.series.rollover;
  const { strategy, format, formats, profile } = numberingOf(config);
  const peers = opened.peers;
  const tlsFiles = config.server.tls;
  const tls = tlsFiles && { cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key) };
  const forwarder =
    peers && config.sequence.etcd['forward-commits']
      ? new CommitForwarder({
          node,
          peers,
          // The key this instance presents to the others (role internal), and the CA of their certificates.
          authKey: process.env.SEQD_FORWARD_KEY,
          ca: tlsFiles?.ca ? readFileSync(tlsFiles.ca) : undefined,
          peerName: tlsFiles?.['peer-name'],
        })
      : null;
  let identity: StoreIdentity;
  try {
    identity = await checkStoreIdentity({
      store: opened.store,
      dataDir: dataDirOf(config),
      numbering: profile,
      bases: seriesBasesOf(config),
      printing: printingSeriesOf(config),
      start: core['global-counter-start'],
      requestWindowMs: core['idempotency-window-seconds'] * 1000,
      log: (message) => logger.info(message),
    });
  } catch (error) {
    await opened.close();
    throw error;
  }
  let service: SequenceService | null = null;
  // The expiry sweeper's look-ahead, once it runs (it starts after the port opens).
  let expiring: ReadonlyMap<string, number> = new Map();
  const metrics = new SeqdMetrics({
    seriesStates: async () => (service ? service.seriesStates() : []),
    isLive: (state) => isLiveSeries(state, (options.now ?? Date.now)()),
    mismatchedSeries: () => service?.mismatchedSeries ?? new Map<string, string>(),
    lastVerifies: () => service?.lastVerifies ?? new Map<string, { valid: boolean; at: number }>(),
    expiringReservations: () => expiring,
    periodEnded: (series) => {
      const { period } = parseSeriesName(series);
      const r = strategy.rollover;
      return r !== null && period !== null && periodEnded(r, period, (options.now ?? Date.now)() - roll['close-after-seconds'] * 1000);
    },
    clusterInfo: () => opened.clusterInfo(),
    storeKind: opened.store.kind,
    storeHealth: () => opened.store.health(),
    maintenance: () => service?.currentSettings.maintenance ?? false,
  });
  try {
    service = await SequenceService.start({
      store: opened.store,
      node,
      forwarder: forwarder ?? undefined,
      requestWindowMs: core['idempotency-window-seconds'] * 1000,
      format,
      formats,
      strategy,
      formerNumbering: identity.formerNumbering,
      now: options.now,
      observer: metrics,
      start: core['global-counter-start'],
      moveEmptyStarts: true,
      gapPolicy: core['gap-recovery-enabled'] ? (core['gap-policy'] ?? 'lowest-first') : 'none',
      sites: config.sequence.sites,
      maxCount: core['max-count'],
      simulatedEnabled: config.sequence['invoice-types'].simulated.enabled,
    });
  } catch (error) {
    await opened.close();
    throw error;
  }
  let shuttingDown = false;
  let httpClosing = false;
  const demo = config.sequence.demo;
  const internalPort = config.server['internal-port'];
  const internal = internalPort === undefined ? undefined : new InternalListener();
  const started = service;
  // A port in use (or any failure before serving) leaves nothing running: the store is closed and
  // managed etcd members started for this instance are stopped.
  const abandon = async (error: unknown): Promise<never> => {
    await started.close().catch(() => undefined);
    await opened.close().catch((e: unknown) => logger.warn({ err: e }, 'closing the store after a failed start'));
    throw error;
  };
  const app = await buildServer(service, {
    bodyLimit: config.server['body-limit-bytes'],
    gapReportLimit: core['gap-report-limit'],
    logger,
    isShuttingDown: () => shuttingDown,
    isClosing: () => httpClosing,
    clusterInfo: () => opened.clusterInfo(),
    cluster: opened.cluster,
    metrics,
    keys: new ApiKeys(config.security['api-keys'], config.security['require-api-keys']),
    tls,
    internal,
    demo: {
      enabled: demo.enabled,
      maxTotalRequests: demo['max-total-requests'],
      maxThreads: demo['max-threads'],
      maxRequestsPerThread: demo['max-requests-per-thread'],
      runsPerMinute: config.security['demo-runs-per-minute'],
    },
  }).catch(abandon);
  await app.listen({ host: config.server.host, port }).catch(async (error: unknown) => {
    await app.close().catch(() => undefined);
    return abandon(error);
  });
  const marker = new StoreMarkerKeeper(dataDirOf(config), identity, opened.store.kind, () => service.committedHeads(), (error) =>
    logger.warn({ err: error }, 'could not update the store marker; retried'),
  );
  marker.start();
  const scheme = tls ? 'https' : 'http';
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const host = config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host;
  const urlOf = (p: number) => `${scheme}://${host.includes(':') ? `[${host}]` : host}:${p}`;
  const url = urlOf(boundPort);
  const internalUrl =
    internal && internalPort !== undefined
      ? urlOf(
          await internal.listen(app, config.server.host, internalPort, tls).catch(async (error: unknown) => {
            marker.stop();
            await Promise.all([app.close(), internal.close()]).catch(() => undefined);
            return abandon(error);
          }),
        )
      : url;
  // Other instances forward commits to this URL: on several machines it must be reachable there.
  opened.announce(service.node, config.server['advertise-url'] ?? internalUrl);
  await forwarder?.start();
  const timeoutS = core['reservation-timeout-seconds'];
  const sweeper =
    timeoutS > 0
      ? new ExpirySweeper({
          store: opened.store,
          series: async () => (await opened.store.listSeries()).filter((n) => !isInternalSeries(n)),
          timeoutMs: timeoutS * 1000,
          release: (series, records, cutoff) => service.expire(series, records, cutoff, timeoutS * 1000),
          onError: (error) => quietInMaintenance(logger, error, 'reservation expiry: sweep failed; it is retried'),
        })
      : null;
  sweeper?.start();
  if (sweeper) expiring = sweeper.expiring;
  // Idempotency records past the window, on a store that does not drop them by itself (etcd).
  const keySweep = opened.store.sweepRequests
    ? setInterval(() => {
        opened.store.sweepRequests?.().then(
          (n) => n > 0 && logger.debug(`idempotency records past the window deleted: ${n}`),
          (error: unknown) => logger.warn({ err: error }, 'idempotency record sweep failed; it is retried'),
        );
      }, KEY_SWEEP_EVERY_MS).unref()
    : null;
  if (service.settingsKept) logger.warn(service.settingsKept);
  if (service.startsMoved.length > 0) {
    logger.info(`series that had issued nothing now begin at sequence.core.global-counter-start: ${service.startsMoved.join(', ')}`);
  }
  // Toggles committed by another instance take effect here within a few seconds.
  const settingsRefresh = setInterval(() => {
    service.refreshSettings().catch((error: unknown) => logger.debug({ err: error }, 'settings refresh failed; retried'));
  }, SETTINGS_REFRESH_MS).unref();
  service.events.on('resolved', (r) =>
    logger.warn(r, r.landed ? `unknown outcome settled: batch landed; ${r.released} undelivered number(s) released as gaps` : 'unknown outcome settled: batch did not land'),
  );
  const reportMismatch = (series: string, problem: string | null) =>
    problem === null
      ? logger.warn({ series }, 'series state agrees with its audit trail again: serving')
      : logger.error({ series, problem }, 'series stopped: its stored state contradicts its audit trail; repair the store');
  for (const [series, problem] of service.mismatchedSeries) reportMismatch(series, problem);
  const recheck = setInterval(() => void service.recheckStopped(), STOPPED_RECHECK_MS).unref();
  service.events.on('stateMismatch', reportMismatch);
  service.events.on('resolveFailed', (series, error) => logger.warn({ err: error, series }, 'unknown outcome: store still cannot tell; retried'));
  const rollover = strategy.rollover;
  const closer = rollover
    ? new RolloverCloser({
        rollover,
        now: options.now,
        graceMs: roll['close-after-seconds'] * 1000,
        intervalMs: roll['check-interval-seconds'] * 1000,
        listSeries: () => opened.store.listSeries(),
        isClosed: async (name) => service?.isKnownClosed(name) || (await opened.store.loadSeries(name, core['global-counter-start'])).closedAt !== null,
        close: (name, reason) => service.closeSeries(name, reason, SYSTEM_ACTORS.rollover),
        onClosed: (name, voided) => logger.info(`series ${name} closed: its period ended (${voided} open gaps made void)`),
        onError: (error) => quietInMaintenance(logger, error, 'rollover: closing ended series failed; it is retried'),
      })
    : null;
  closer?.start();
  const backupEvery = config.backup.interval;
  metrics.backups.scheduled(backupEvery);
  const backups =
    backupEvery > 0
      ? new BackupScheduler({
          store: opened.store,
          directory: resolve(dataDirOf(config), config.backup.directory),
          intervalMs: backupEvery * 1000,
          keep: config.backup.keep,
          requestWindowMs: core['idempotency-window-seconds'] * 1000,
          onDone: (run) => {
            metrics.backups.done(run);
            logger.info(`scheduled backup written: ${run.file} (${run.events} events, ${run.bytes} bytes, ${Math.round(run.durationMs)} ms)`);
          },
          onError: (error) => {
            metrics.backups.failed();
            logger.error({ err: error }, 'scheduled backup failed: nothing was written; the next one runs at the next interval');
          },
        })
      : null;
  backups?.start();
  // At start too: series of periods that ended while no instance ran are closed at once.
  void closer?.tick().catch((error: unknown) => logger.warn({ err: error }, 'rollover: closing ended series failed; it is retried'));
  let closing: Promise<void> | null = null;
  return {
    app,
    service,
    logger,
    opened,
    rollover: closer,
    backups,
    port: boundPort,
    url,
    internalUrl,
    close: () => {
      // In order: not ready (load balancers stop sending), in-flight requests answered (their
      // commits finish first), workers drained, the store closed, then the managed etcd members.
      closing ??= (async () => {
        shuttingDown = true;
        const delay = config.server['shutdown-delay-ms'];
        logger.info(`shutdown: not ready any more${delay ? `; still serving for ${delay} ms` : ''}`);
        if (delay) await new Promise((r) => setTimeout(r, delay));
        await sweeper?.stop();
        if (keySweep) clearInterval(keySweep);
        clearInterval(settingsRefresh);
        clearInterval(recheck);
        await closer?.stop();
        await backups?.stop();
        // Connections whose request was in flight at the close stay open after their answer
        // (keep-alive, 65 s): close each one as soon as it is idle.
        httpClosing = true;
        const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
        try {
          await Promise.all([app.close(), internal?.close()]);
        } finally {
          clearInterval(reaper);
        }
        logger.info('shutdown: every request answered');
        await service.close();
        marker.stop();
        forwarder?.close();
        await opened.close();
        logger.info('shutdown: store closed');
      })();
      return closing;
    },
  };
}

function toFormat(f: NonNullable<SeqdConfig['sequence']['format']>): NumberFormat {
  return { prefix: f.prefix, year: f.year, padding: f.padding, separator: f.separator, timeZone: f['time-zone'] };
}

/** The series strategy and formats a configuration asks for, and the profile a store remembers of them. */
export function numberingOf(config: SeqdConfig): {
  strategy: SeriesStrategy;
  format: NumberFormat | undefined;
  formats: Map<string, NumberFormat>;
  profile: NumberingProfile;
} {
  const fmt = config.sequence.format;
  const s = config.sequence.series;
  const roll = s.rollover;
  const strategy: SeriesStrategy = {
    splitBy: s['split-by'],
    rollover: roll.enabled ? { period: roll.period, timeZone: roll['time-zone'] } : null,
  };
  const format = fmt && toFormat(fmt);
  const formats = new Map(Object.entries(s.formats).map(([base, f]) => [base, toFormat(f)]));
  return { strategy, format, formats, profile: profileOf(strategy, format, formats) };
}

/** Background work refused because the store is in maintenance is expected: logged at debug level only. */
function quietInMaintenance(logger: Logger, error: unknown, message: string): void {
  if (error instanceof MaintenanceError) logger.debug({ err: error }, message);
  else logger.warn({ err: error }, message);
}
