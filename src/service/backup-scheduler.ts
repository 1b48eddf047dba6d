import { readdirSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeBackupFile } from '../backup/backup-file.js';
import { storeBackup } from '../backup/store-backup.js';
import type { SequenceStore } from '../storage/sequence-store.js';

/** `seqd-backup-20261205T081500Z.seqd-backup`: the time sorts the names. */
const NAME = /^seqd-backup-\d{8}T\d{6}Z\.seqd-backup$/;

export interface BackupRun {
  readonly file: string;
  readonly bytes: number;
  readonly durationMs: number;
  readonly events: number;
}

export interface BackupSchedulerOptions {
  readonly store: SequenceStore;
  readonly directory: string;
  readonly intervalMs: number;
  readonly keep: number;
  readonly requestWindowMs: number;
  readonly now?: (() => number) | undefined;
  readonly onDone?: ((run: BackupRun) => void) | undefined;
  readonly onError?: ((error: unknown) => void) | undefined;
}

/**
 * Writes a backup of the store every interval (checked, then renamed into place: see
 * backup-file.ts) and deletes the oldest beyond `keep`. One runs at a time; a run that fails is
 * reported and the next one comes at the next interval.
 */
export class BackupScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<BackupRun | null> | null = null;

  constructor(private readonly o: BackupSchedulerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), this.o.intervalMs);
    this.timer.unref();
  }

  /** Runs a backup now, unless one is running (then answers that one). */
  runOnce(): Promise<BackupRun | null> {
    this.running ??= this.backup()
      .then((run) => {
        this.o.onDone?.(run);
        return run;
      })
      .catch((error: unknown) => {
        this.o.onError?.(error);
        return null;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async backup(): Promise<BackupRun> {
    const t0 = performance.now();
    await mkdir(this.o.directory, { recursive: true });
    const stamp = new Date((this.o.now ?? Date.now)()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const file = join(this.o.directory, `seqd-backup-${stamp}.seqd-backup`);
    const summary = await writeBackupFile(file, await storeBackup(this.o.store, { requestWindowMs: this.o.requestWindowMs, now: this.o.now }));
    this.prune();
    return { file, bytes: summary.bytes, durationMs: performance.now() - t0, events: summary.counts.events };
  }

  private prune(): void {
    const files = readdirSync(this.o.directory).filter((f) => NAME.test(f)).sort();
    for (const f of files.slice(0, Math.max(0, files.length - this.o.keep))) rmSync(join(this.o.directory, f), { force: true });
  }
}
