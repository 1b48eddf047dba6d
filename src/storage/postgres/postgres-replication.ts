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
  const [[primary], rows] = await Promise.all([
    sql.unsafe<PrimaryRow[]>(
    `SELECT inet_server_addr()::text AS address, inet_server_port() AS port, current_setting('server_version') AS version,
            current_setting('synchronous_standby_names') AS sync_names, pg_database_size(current_database())::float8 AS bytes`,
    ),
    sql.unsafe<StandbyRow[]>(
      `SELECT application_name AS name, client_addr::text AS address, state, sync_state,
              pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS lag_bytes,
              EXTRACT(EPOCH FROM replay_lag)::float8 AS lag_seconds
         FROM pg_stat_replication ORDER BY application_name`,
    ),
  ]);
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
