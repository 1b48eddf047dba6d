import { BackupInvalidError, StoreNotEmptyError } from '../domain/errors/index.js';
import type { StoreContents, StoreLoader } from '../storage/store-transfer.js';
import { BACKUP_FORMAT } from './backup-format.js';
import { walkBackup, type BackupSummary } from './backup-walk.js';

export interface RestoreOptions {
  /** Delete what the store holds first (default: refuse a store that holds anything). */
  readonly replace?: boolean | undefined;
  /**
   * With `replace`: allow replacing the same store when it holds events the backup does not (it
   * is newer than the backup: the numbers issued after the backup would be given again).
   */
  readonly allowOlder?: boolean | undefined;
  /**
   * Leave the store in maintenance with this reason (default: one saying it was restored): a
   * backup is older than the store it came from, and numbers issued after it must not be given
   * again. Null: serve at once (a migration, whose source was frozen while it was copied).
   */
  readonly maintenance?: string | null | undefined;
  /**
   * Checks the written store before it is unmarked (a full verify): answers a problem, or null.
   * With a problem the store stays marked unfinished and the restore throws.
   */
  readonly verify?: (() => Promise<string | null>) | undefined;
  readonly onProgress?: ((phase: 'check' | 'write', events: number) => void) | undefined;
}

/**
 * Restores a backup file into a store: reads the whole file once and checks it (checksum, every
 * chain, the manifest) before anything is written, refuses a store that holds data unless told to
 * replace it (and a newer copy of the same store even then, unless told), then writes everything
 * with the store marked as being loaded and in maintenance, verifies it, and only then unmarks it.
 */
export async function restoreBackup(path: string, loader: StoreLoader, o: RestoreOptions = {}): Promise<BackupSummary> {
  const checked = await walkBackup(path, {}, (n) => o.onProgress?.('check', n));
  if (checked.header.format !== BACKUP_FORMAT) {
    throw new BackupInvalidError(`${path} is an archive of series ${checked.header.series ?? '?'}, not a backup: it is read with seqd archive verify, never restored into a store`);
  }
  refuseTarget(await loader.contents(), checked, o);
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
  if (written.sha256 !== checked.sha256) throw new BackupInvalidError('the backup file changed while it was restored: the store stays marked unfinished');
  const problem = (await o.verify?.()) ?? null;
  if (problem !== null) throw new BackupInvalidError(`the restored store does not verify (${problem}): it stays marked unfinished`);
  const taken = new Date(checked.header.createdAt).toISOString();
  await loader.finish(o.maintenance === undefined ? `restored from a backup taken ${taken}` : o.maintenance);
  return written;
}

function refuseTarget(target: StoreContents, backup: BackupSummary, o: RestoreOptions): void {
  if (target.instances.length > 0) {
    throw new StoreNotEmptyError(`seqd instances serve the target store (${target.instances.join(', ')}): stop every one of them first; nothing was written`);
  }
  if (target.migratedTo !== null) {
    throw new StoreNotEmptyError(
      `the target store's numbering moved to ${target.migratedTo} (seqd migrate): restored, it could issue again beside that store. Nothing was written; restore into another store`,
    );
  }
  if (target.storeId === null && target.heads.size === 0) return;
  const holds = `${target.heads.size} series${target.storeId ? `, store ${target.storeId}` : ''}`;
  if (o.replace !== true) {
    throw new StoreNotEmptyError(`the target store is not empty (${holds}): nothing was written; restore into an empty store, or pass --replace to delete what it holds`);
  }
  if (target.storeId === null || target.storeId !== backup.storeId || o.allowOlder === true) return;
  const inBackup = new Map(backup.heads.map((h) => [h.series, h.seq]));
  const ahead = [...target.heads].find(([series, seq]) => seq > (inBackup.get(series) ?? 0));
  if (ahead) {
    throw new StoreNotEmptyError(
      `the target is the store this backup came from, and it is newer: series ${ahead[0]} holds ${ahead[1]} events, the backup ${inBackup.get(ahead[0]) ?? 0}. ` +
        'Restoring would give the numbers issued since the backup again. Nothing was written; pass --allow-older only if that store is known lost or wrong',
    );
  }
}
