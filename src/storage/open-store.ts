import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { EtcdCluster, liveInstances, registerInstance } from '../cluster/etcd-cluster.js';
import { dataDirOf } from '../config/config-loader.js';
import type { SeqdConfig } from '../config/config-schema.js';
import { ConfigError } from '../domain/errors/index.js';
import type { MemberStatus } from './etcd/etcd-client.js';
import { EtcdStore } from './etcd/etcd-store.js';
import type { SequenceStore } from './sequence-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { openPostgresStore } from './postgres/postgres-open.js';

/** What stats and the dashboard show about the HA cluster (display only). */
export interface ClusterInfo {
  readonly managed: boolean;
  readonly members: (MemberStatus & { name?: string; pid?: number | null })[];
  readonly instances: Record<string, unknown>[];
  /** This instance's calls to etcd that ran into their per-call deadline, since start. */
  readonly callsRanOut: number;
}

export interface OpenedStore {
  readonly store: SequenceStore;
  /** The managed local etcd cluster (`sequence.etcd.embedded: true`), else null. */
  readonly cluster: EtcdCluster | null;
  clusterInfo(): Promise<ClusterInfo | null>;
  /** Registers this instance for display once its node id and URL are known. */
  announce(node: string, url: string): void;
  /** The live seqd instances sharing this store (etcd), or null (embedded store). */
  readonly peers: (() => Promise<{ node: string; url: string; heartbeat: boolean }[]>) | null;
  close(): Promise<void>;
}

const requestWindowMs = (config: SeqdConfig) => config.sequence.core['idempotency-window-seconds'] * 1000;

/** Opens the configured store; for etcd with `embedded: true` starts or reuses the local cluster. */
export async function openStore(config: SeqdConfig, logger: Logger): Promise<OpenedStore> {
  if (config.sequence.storage === 'sqlite') {
    const store = new SqliteStore({
      dataDir: dataDirOf(config),
      requestWindowMs: requestWindowMs(config),
      fullCheckMaxBytes: config.sequence.sqlite['full-check-at-start-max-mb'] * 1024 * 1024,
      onIntegrityCheck: (o) => (o.ok ? logger.info(o.message) : logger.error(o.message)),
    });
    return { store, cluster: null, clusterInfo: async () => null, announce: () => undefined, peers: null, close: () => store.close() };
  }
  if (config.sequence.storage === 'postgres') {
    const store = await openPostgresStore(config.sequence.postgres, requestWindowMs(config), process.env);
    return { store, cluster: null, clusterInfo: async () => null, announce: () => undefined, peers: null, close: () => store.close() };
  }
  const e = config.sequence.etcd;
  let cluster: EtcdCluster | null = null;
  let unregister = () => undefined as void;
  let endpoints = e.endpoints;
  if (e.embedded) {
    cluster = new EtcdCluster({
      dataDir: resolve(e['data-directory']),
      members: e.members,
      clientPortBase: e['client-port-base'],
      peerPortBase: e['peer-port-base'],
      heartbeatMs: e['heartbeat-interval-ms'],
      electionMs: e['election-timeout-ms'],
      supervise: true,
      onEvent: (message) => logger.warn(message),
    });
    logger.info(`starting or reusing the local etcd cluster in ${resolve(e['data-directory'])}`);
    const starting = cluster;
    // Registered before the members are waited for: an instance that fails meanwhile must see
    // this one as a user of the members, not stop them under it.
    unregister = registerInstance(e['data-directory']);
    await starting.start().catch(async (error: unknown) => {
      unregister();
      await stopUnlessShared(starting, e['data-directory'], logger).catch((stopError: unknown) => logger.warn({ err: stopError }, 'stopping the local etcd members after a failed start'));
      throw error;
    });
    endpoints = cluster.endpoints;
  } else if (endpoints.length === 0) {
    throw new ConfigError('sequence.etcd.endpoints', 'list the etcd endpoints when sequence.etcd.embedded is false');
  }
  const store = new EtcdStore({
    endpoints,
    requestTimeoutMs: e['request-timeout-ms'],
    pipelineDepth: e['pipeline-depth'],
    combineSeries: e['combine-series'],
    routeToLeader: e['route-to-leader'],
    username: e.username,
    password: e.password,
    tls: e.tls,
    requestWindowMs: requestWindowMs(config),
  });
  const managed = cluster;
  const close = async () => {
    await store.close();
    unregister();
    if (managed) await stopUnlessShared(managed, e['data-directory'], logger);
  };
  try {
    const moved = await store.upgradeFormat((n) => logger.info(`etcd data upgrade: ${n} idempotency records moved so far`));
    if (moved > 0) logger.info(`etcd data upgraded: ${moved} idempotency records now span series`);
  } catch (error) {
    await close().catch((closeError: unknown) => logger.warn({ err: closeError }, 'closing the store after a failed start'));
    throw error;
  }
  return {
    store,
    cluster,
    // `heartbeat`: this version beats while it commits a forwarded batch (see CommitForwarder).
    announce: (node, url) => store.announce(node, { url, pid: process.pid, startedAt: new Date().toISOString(), heartbeat: true }),
    peers: async () =>
      (await store.instances()).flatMap((i) => (typeof i.node === 'string' && typeof i.url === 'string' ? [{ node: i.node, url: i.url, heartbeat: i.heartbeat === true }] : [])),
    clusterInfo: async () => {
      const [members, instances] = await Promise.all([store.memberStatus(), store.instances().catch(() => [])]);
      return {
        managed: managed !== null,
        members: members.map((m) => {
          const own = managed?.members.find((x) => x.clientUrl.endsWith(m.endpoint));
          return { ...m, name: own?.name, pid: own ? managed?.pidOf(own) ?? null : undefined };
        }),
        instances,
        callsRanOut: store.callsRanOut(),
      };
    },
    close,
  };
}

/**
 * Stops the managed members when no other live seqd instance uses them (they were started for
 * this one, or it was the last); otherwise only this instance's supervision ends.
 */
async function stopUnlessShared(cluster: EtcdCluster, dataDir: string, logger: Logger): Promise<void> {
  if (liveInstances(dataDir).length === 0) {
    logger.info('last seqd instance on the local etcd cluster: stopping its members');
    await cluster.stop();
  } else {
    cluster.stopSupervising();
  }
}
