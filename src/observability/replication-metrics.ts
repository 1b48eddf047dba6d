import { Gauge, type Registry } from 'prom-client';
import type { ReplicationStatus, StandbyStatus, StoreHealth } from '../storage/sequence-store.js';

/** The primary waits for this standby at commit. */
const synchronous = (s: StandbyStatus) => s.syncState === 'sync' || s.syncState === 'quorum';

/**
 * Gauges of a PostgreSQL store: whether the primary answers and, per standby streaming from it,
 * its state and lag. Read at scrape time from one health call shared by all of them.
 */
export function registerReplicationGauges(registers: Registry[], health: () => Promise<StoreHealth>): void {
  const single = (name: string, help: string, value: (h: StoreHealth, r: ReplicationStatus | undefined) => number) => {
    const g: Gauge = new Gauge({
      name,
      help,
      registers,
      collect: async () => {
        const h = await health();
        g.set(value(h, h.replication));
      },
    });
  };
  single('seqd_postgres_up', '1 when the PostgreSQL primary answers seqd (0: no numbers are handed out)', (h) => (h.healthy ? 1 : 0));
  single('seqd_postgres_sync_standbys', 'Standbys streaming as synchronous (sync or quorum): with synchronous_standby_names set and none, commits wait', (_, r) =>
    r ? r.standbys.filter((s) => s.state === 'streaming' && synchronous(s)).length : 0,
  );
  single('seqd_postgres_sync_required', "1 when the primary's synchronous_standby_names is set: a commit waits for a standby to confirm it", (_, r) =>
    r?.synchronousStandbyNames ? 1 : 0,
  );
  const perStandby = (name: string, help: string, value: (s: StandbyStatus) => number | null) => {
    const g: Gauge<'standby'> = new Gauge({
      name,
      help,
      labelNames: ['standby'],
      registers,
      collect: async () => {
        g.reset();
        for (const s of (await health()).replication?.standbys ?? []) {
          const v = value(s);
          if (v !== null) g.set({ standby: s.name }, v);
        }
      },
    });
  };
  perStandby('seqd_postgres_standby_streaming', '1 while the standby streams WAL from the primary', (s) => (s.state === null ? null : s.state === 'streaming' ? 1 : 0));
  perStandby('seqd_postgres_standby_synchronous', '1 when the primary waits for this standby at commit (sync or quorum)', (s) => (s.syncState === null ? null : synchronous(s) ? 1 : 0));
  perStandby('seqd_postgres_replication_lag_bytes', 'WAL the standby has not replayed yet', (s) => s.lagBytes);
  perStandby('seqd_postgres_replication_lag_seconds', "How far the standby's replay trails the primary (0 when caught up)", (s) =>
    s.lagBytes === null ? null : (s.replayLagSeconds ?? 0),
  );
}
