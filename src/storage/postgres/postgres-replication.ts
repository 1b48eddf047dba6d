import type { Sql } from 'postgres';
import type { ReplicationStatus, StandbyStatus } from '../sequence-store.js';

interface PrimaryRow {
  readonly address: string | null;
  readonly port: number | null;
  readonly version: string;
  readonly sync_names: string;
  readonly bytes: number;
}

interface StandbyRow {
  readonly name: string;
  readonly address: string | null;
  readonly state: string | null;
  readonly sync_state: string | null;
  readonly lag_bytes: number | null;
  readonly lag_seconds: number | null;
}

/**
 * The primary and its standbys as `pg_stat_replication` shows them. A role without
 * pg_read_all_stats (pg_monitor) sees the standbys' names but not their state and lag: those
 * come back null rather than failing the health check.
 */
export async function readReplication(sql: Sql<{ bigint: number }>): Promise<ReplicationStatus> {
  const [primary] = await sql.unsafe<PrimaryRow[]>(
    `SELECT inet_server_addr()::text AS address, inet_server_port() AS port, current_setting('server_version') AS version,
            current_setting('synchronous_standby_names') AS sync_names, pg_database_size(current_database())::float8 AS bytes`,
  );
  const rows = await sql.unsafe<StandbyRow[]>(
    `SELECT application_name AS name, client_addr::text AS address, state, sync_state,
            pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS lag_bytes,
            EXTRACT(EPOCH FROM replay_lag)::float8 AS lag_seconds
       FROM pg_stat_replication ORDER BY application_name`,
  );
  const standbys: StandbyStatus[] = rows.map((r) => ({
    name: r.name,
    address: r.address,
    state: r.state,
    syncState: r.sync_state,
    lagBytes: r.lag_bytes,
    replayLagSeconds: r.lag_seconds,
  }));
  return {
    primary: primary?.address ? `${primary.address.replace(/\/\d+$/, '')}:${primary.port ?? ''}` : 'local',
    serverVersion: primary?.version ?? '',
    synchronousStandbyNames: primary?.sync_names ?? '',
    sizeBytes: primary?.bytes ?? 0,
    standbys,
  };
}

/**
 * Seconds before the driver tries to connect again after `retries` failed attempts: its own
 * growth (3^n / 100 s, jittered) capped at 250 ms, so a promoted standby is found within a
 * quarter of a second of taking writes, while a server that stays down is not hammered faster
 * than four attempts a second per pool slot.
 */
export function reconnectBackoffSeconds(retries: number): number {
  return Math.min(0.25, (0.5 + Math.random() / 2) * (3 ** retries / 100));
}
