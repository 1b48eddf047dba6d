import { storeBackup } from '../backup/store-backup.js';
import { SeriesArchivedError, ValidationError } from '../domain/errors/index.js';
import { archivedError } from '../domain/planner.js';
import type { ChainHead } from '../domain/saved-head.js';
import type { ArchiveMark } from '../domain/types.js';
import type { SequenceService } from './sequence-service.js';

/**
 * The lines of an archive of a closed series (see `ARCHIVE_FORMAT`), read from one snapshot of
 * the store. Refused before the first line: a series that is open, archived already or unknown.
 */
export async function archiveLines(service: SequenceService, series: string): Promise<AsyncGenerator<string>> {
  const state = await service.store.loadSeries(await service.readSeries(series), 1);
  if (state.archived) throw archivedError(series, state.archived);
  if (state.closedAt === null) throw new ValidationError(`series ${series} is open: close it (its period must be over) before it is archived`, { field: 'series' });
  return storeBackup(service.store, { requestWindowMs: 0, series });
}

export interface ArchiveRemoval {
  /** Where the archive was written, as the operator names it (a path, a bucket and key). */
  readonly file: string;
  /** The archive's manifest checksum, and the chain head it ends at, as its check found them. */
  readonly sha256: string;
  readonly head: ChainHead;
  readonly reason: string;
}

/**
 * Takes an archived series out of the store: commits its `archive` event (refused unless the
 * series is closed and its trail still ends at the archive's head), then deletes its archived
 * events and number records page by page. Run again after an interruption, with the same
 * archive, it finishes the deletion. Answers the mark and how many records went.
 */
export async function removeArchivedSeries(
  service: SequenceService,
  series: string,
  r: ArchiveRemoval,
  actor: string | null,
  onProgress?: (removed: number) => void,
): Promise<{ archive: ArchiveMark; removed: number }> {
  let archive: ArchiveMark;
  try {
    archive = await service.markArchived(series, { file: r.file, sha256: r.sha256, headSeq: r.head.seq, headHash: r.head.hash, reason: r.reason }, actor);
  } catch (error) {
    // Marked already by this archive (an earlier run that stopped): go on with the removal.
    const mark = error instanceof SeriesArchivedError ? (error.details?.['archive'] as ArchiveMark | undefined) : undefined;
    if (!mark || mark.sha256 !== r.sha256) throw error;
    archive = mark;
  }
  let removed = 0;
  for (let n = await service.store.purgeArchived(series); n > 0; n = await service.store.purgeArchived(series)) {
    removed += n;
    onProgress?.(removed);
  }
  return { archive, removed };
}

/** Refuses (410, naming the archive) a read of number records of a series that left with its archive. */
export async function refuseArchived(service: SequenceService, series: string): Promise<void> {
  const mark = (await service.store.loadSeries(series, 1)).archived;
  if (mark) throw archivedError(series, mark);
}
