import { Gauge, type Registry } from 'prom-client';
import type { StandbyStatus, StoreHealth } from '../storage/sequence-store.js';

/**
 * Gauges of a PostgreSQL store: whether the primary answers and, per standby streaming from it,
 * its state and lag. Read at scrape time from one health call shared by all of them.
 */
export function registerReplicationGauges(registers: Registry[], health: () => Promise<StoreHealth>): void {
  const up: Gauge = new Gauge({
    name: 'seqd_postgres_up',
    help: '1 when the PostgreSQL primary answers seqd (0: no numbers are handed out)',
    registers,
    collect: async () => up.set((await health()).healthy ? 1 : 0),
  });
  const syncStandbys: Gauge = new Gauge({
    name: 'seqd_postgres_sync_standbys',
    help: 'Standbys streaming as synchronous (sync or quorum): with synchronous_standby_names set and none, commits wait',
    registers,
    collect: async () => {
      const r = (await health()).replication;
      syncStandbys.set(r ? r.standbys.filter((s) => s.state === 'streaming' && (s.syncState === 'sync' || s.syncState === 'quorum')).length : 0);
    },
  });
  const syncRequired: Gauge = new Gauge({
    name: 'seqd_postgres_sync_required',
    help: "1 when the primary's synchronous_standby_names is set: a commit waits for a standby to confirm it",
    registers,
    collect: async () => syncRequired.set((await health()).replication?.synchronousStandbyNames ? 1 : 0),
  });
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
  perStandby('seqd_postgres_standby_synchronous', '1 when the primary waits for this standby at commit (sync or quorum)', (s) =>
    s.syncState === null ? null : s.syncState === 'sync' || s.syncState === 'quorum' ? 1 : 0,
  );
  perStandby('seqd_postgres_replication_lag_bytes', 'WAL the standby has not replayed yet', (s) => s.lagBytes);
  perStandby('seqd_postgres_replication_lag_seconds', "How far the standby's replay trails the primary (0 when caught up)", (s) =>
    s.lagBytes === null ? null : (s.replayLagSeconds ?? 0),
  );
}
