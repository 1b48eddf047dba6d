import { BackupInvalidError, StoreNotEmptyError } from '../domain/errors/index.js';
import type { StoreLoader } from '../storage/store-transfer.js';
import { walkBackup, type BackupSummary } from './backup-walk.js';

export interface RestoreOptions {
  /**
   * Leave the store in maintenance with this reason (default: one saying it was restored): a
   * backup is older than the store it came from, and numbers issued after it must not be given
   * again. Null: serve at once (a migration, whose source was frozen while it was copied).
   */
  readonly maintenance?: string | null | undefined;
  /** Delete what the store holds first (default: refuse a store that holds anything). */
  readonly replace?: boolean | undefined;
  readonly onProgress?: ((phase: 'check' | 'write', events: number) => void) | undefined;
}

/**
 * Restores a backup file into a store: reads the whole file once and checks it (checksum, every
 * chain, the manifest) before anything is written, refuses a store that holds data unless told to
 * replace it, then writes everything with the store marked as being loaded (it refuses to open
 * until the load finished). Verify the store afterwards: the caller opens it as a server would.
 */
export async function restoreBackup(path: string, loader: StoreLoader, o: RestoreOptions = {}): Promise<BackupSummary> {
  const checked = await walkBackup(path, {}, (n) => o.onProgress?.('check', n));
  const contents = await loader.contents();
  if ((contents.series > 0 || contents.identity) && o.replace !== true) {
    throw new StoreNotEmptyError(
      `the target store is not empty (${contents.series} series${contents.identity ? ', an identity' : ''}): nothing was written; restore into an empty store, or pass --replace to delete what it holds`,
    );
  }
  await loader.begin(o.replace === true);
  const written = await walkBackup(
    path,
    {
      identity: (i) => loader.putIdentity(i),
      settings: (s) => loader.putSettings(s),
      series: (image, numbers) => loader.putSeries(image, numbers),
      events: (series, events, last) => loader.putEvents(series, events, last),
      requests: (records) => loader.putRequests(records),
    },
    (n) => o.onProgress?.('write', n),
  );
  // The file was read twice: the second read must be the file that was checked.
  if (JSON.stringify(written.heads) !== JSON.stringify(checked.heads)) throw new BackupInvalidError('the backup file changed while it was restored: the store stays marked unfinished');
  const taken = new Date(checked.header.createdAt).toISOString();
  await loader.finish(o.maintenance === undefined ? `restored from a backup taken ${taken}` : o.maintenance);
  return written;
}
