import { readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeBackupFile } from '../backup/backup-file.js';
import { storeBackup } from '../backup/store-backup.js';
import type { SequenceStore } from '../storage/sequence-store.js';

/** `seqd-backup-20261205T081500Z-4242-7.seqd-backup` (time, process, run): the time sorts the names. */
const NAME = /^seqd-backup-\d{8}T\d{6}Z-\d+-\d+\.seqd-backup$/;
/** What a run killed while writing leaves (see `partialName`). */
const PARTIAL = /^\.seqd-backup-\d{8}T\d{6}Z-\d+-\d+\.seqd-backup\.partial-\d+$/;
/** A partial file untouched this long is no run's any more (a run writes to it until it ends). */
const PARTIAL_STALE_MS = 24 * 3600_000;

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
  private runs = 0;

  constructor(private readonly o: BackupSchedulerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), this.o.intervalMs);
    this.timer.unref();
  }

  /** Runs a backup now, unless one is running (then answers that one). */
  runOnce(): Promise<BackupRun | null> {
    this.running ??= this.backup()
      .then((run) => {
        if (run) this.o.onDone?.(run);
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

  private async backup(): Promise<BackupRun | null> {
    const t0 = performance.now();
    // The numbering moved to another store: its backups are taken there.
    if ((await this.o.store.loadSettings()).migratedTo !== undefined) return null;
    await mkdir(this.o.directory, { recursive: true });
    const stamp = new Date((this.o.now ?? Date.now)()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    // The process and a count make the name unique: two runs in one second, or instances sharing the directory.
    const name = `seqd-backup-${stamp}-${process.pid}-${++this.runs}.seqd-backup`;
    const file = join(this.o.directory, name);
    const summary = await writeBackupFile(file, await storeBackup(this.o.store, { requestWindowMs: this.o.requestWindowMs, now: this.o.now }));
    this.prune(name);
    return { file, bytes: summary.bytes, durationMs: performance.now() - t0, events: summary.counts.events };
  }

  /** Deletes the oldest beyond `keep`, never `written` (a clock set back would sort it first). */
  private prune(written: string): void {
    const names = readdirSync(this.o.directory);
    const files = names.filter((f) => NAME.test(f) && f !== written).sort();
    for (const f of files.slice(0, Math.max(0, files.length - (this.o.keep - 1)))) rmSync(join(this.o.directory, f), { force: true });
    // Left by a run killed midway (on any instance sharing the directory): by age, never a live run's.
    const stale = Date.now() - PARTIAL_STALE_MS;
    for (const f of names.filter((n) => PARTIAL.test(n))) {
      const path = join(this.o.directory, f);
      if ((statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < stale) rmSync(path, { force: true });
    }
  }
}
