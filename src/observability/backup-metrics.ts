import { Counter, Gauge, type Registry } from 'prom-client';
import type { BackupRun } from '../service/backup-scheduler.js';

/**
 * Scheduled backups and maintenance, for the `SeqdBackupOverdue` and `SeqdInMaintenance` alerts.
 * Served by every instance (zeros when backups are not scheduled), so the alerts always find them.
 */
export class BackupMetrics {
  private readonly interval: Gauge;
  private readonly lastSuccess: Gauge;
  private readonly size: Gauge;
  private readonly duration: Gauge;
  private readonly failures: Counter;

  constructor(registers: Registry[], maintenance: () => boolean) {
    this.interval = new Gauge({ name: 'seqd_backup_interval_seconds', help: 'How often this instance writes a scheduled backup (0: never)', registers });
    this.lastSuccess = new Gauge({ name: 'seqd_backup_last_success_timestamp_seconds', help: 'When the last scheduled backup was written and checked (0: none yet)', registers });
    this.size = new Gauge({ name: 'seqd_backup_last_size_bytes', help: 'Size of the last scheduled backup file', registers });
    this.duration = new Gauge({ name: 'seqd_backup_last_duration_seconds', help: 'How long the last scheduled backup took, its check included', registers });
    this.failures = new Counter({ name: 'seqd_backup_failures_total', help: 'Scheduled backups that failed (nothing written)', registers });
    const on: Gauge = new Gauge({
      name: 'seqd_maintenance',
      help: '1 while the store is in maintenance: nothing is issued, released or confirmed',
      registers,
      collect: () => on.set(maintenance() ? 1 : 0),
    });
  }

  scheduled(intervalSeconds: number): void {
    this.interval.set(intervalSeconds);
  }

  done(run: BackupRun): void {
    this.lastSuccess.set(Date.now() / 1000);
    this.size.set(run.bytes);
    this.duration.set(run.durationMs / 1000);
  }

  failed(): void {
    this.failures.inc();
  }
}
