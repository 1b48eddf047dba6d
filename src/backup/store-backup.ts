import type { SequenceStore } from '../storage/sequence-store.js';
import type { StoreSnapshot } from '../storage/store-transfer.js';
import { backupLines, type BackupProgress } from './backup-writer.js';

export interface StoreBackupOptions {
  readonly requestWindowMs: number;
  readonly now?: (() => number) | undefined;
  readonly onProgress?: ((p: BackupProgress) => void) | undefined;
  /** Only this series, as an archive (see `ARCHIVE_FORMAT`). */
  readonly series?: string | undefined;
}

/**
 * Opens a snapshot of `store` now (a failure to do so throws here, before any line) and answers
 * the backup's lines from it; the snapshot is closed when the lines end, fail or are abandoned.
 */
export async function storeBackup(store: SequenceStore, o: StoreBackupOptions): Promise<AsyncGenerator<string>> {
  const snapshot = await store.openSnapshot();
  return linesThenClose(snapshot, store.kind, o);
}

async function* linesThenClose(snapshot: StoreSnapshot, kind: string, o: StoreBackupOptions): AsyncGenerator<string> {
  try {
    yield* backupLines({ snapshot, kind, requestWindowMs: o.requestWindowMs, now: o.now ?? Date.now, onProgress: o.onProgress, series: o.series });
  } finally {
    await snapshot.close();
  }
}
