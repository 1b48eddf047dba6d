import type { BackupManifest } from '../backup/backup-format.js';
import { storeBackup } from '../backup/store-backup.js';
import { SeriesArchivedError, StoreUnavailableError, ValidationError } from '../domain/errors/index.js';
import { archivedError } from '../domain/planner.js';
import type { ChainHead } from '../domain/saved-head.js';
import type { ArchiveMark, SeriesState } from '../domain/types.js';
import type { SequenceService } from './sequence-service.js';

/** Archives an instance streamed, by checksum: a removal must name one of them (kept per instance, in memory). */
const streamed = new WeakMap<SequenceService, Map<string, { series: string; head: ChainHead }>>();
/** Enough for any operator's session; the oldest go first. */
const STREAMED_KEPT = 100;

/**
 * Why `state` cannot be archived now, or null. Closed, and the idempotency window over since the
 * close: until then a client whose answer was lost may retry with its key, or confirm a number it
 * holds, and an archived series would refuse it.
 */
function notArchivable(service: SequenceService, state: SeriesState): Error | null {
  const series = state.series;
  if (state.archived) return archivedError(series, state.archived);
  if (state.closedAt === null) return new ValidationError(`series ${series} is open: close it (its period must be over) before it is archived`, { field: 'series' });
  const from = state.closedAt + service.requestWindowMs;
  if (service.clock() < from) {
    return new ValidationError(
      `series ${series} was closed at ${new Date(state.closedAt).toISOString()}: it can be archived from ${new Date(from).toISOString()}, once the idempotency window is over (retries and late confirms may come until then)`,
      { field: 'series' },
    );
  }
  return null;
}

/**
 * The lines of an archive of a closed series (see `ARCHIVE_FORMAT`), read from one snapshot of
 * the store. Refused before the first line: a series that is unknown, open, closed less than the
 * idempotency window ago, or archived already. Once the last line is out, the instance remembers
 * the archive's checksum and head: {@link removeArchivedSeries} accepts only an archive it streamed.
 */
export async function archiveLines(service: SequenceService, series: string): Promise<AsyncGenerator<string>> {
  const refusal = notArchivable(service, await service.store.loadSeries(await service.readSeries(series), service.firstNumber));
  if (refusal) throw refusal;
  return remembered(service, series, await storeBackup(service.store, { requestWindowMs: 0, series }));
}

async function* remembered(service: SequenceService, series: string, lines: AsyncGenerator<string>): AsyncGenerator<string> {
  let last = '';
  for await (const line of lines) {
    last = line;
    yield line;
  }
  const manifest = JSON.parse(last) as BackupManifest;
  const head = manifest.heads[0];
  if (!head) return;
  const known = streamed.get(service) ?? new Map<string, { series: string; head: ChainHead }>();
  streamed.set(service, known);
  known.set(manifest.sha256, { series, head: { seq: head.seq, hash: head.hash } });
  for (const sha of known.keys()) if (known.size > STREAMED_KEPT) known.delete(sha);
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
 * Takes an archived series out of the store: commits its `archive` event (refused unless this
 * instance streamed that very archive, and the series is closed and still ends at its head), then
 * deletes its archived events and number records page by page. Run again after an interruption,
 * with the same archive, it finishes the deletion. Answers the mark and how many records went.
 */
export async function removeArchivedSeries(
  service: SequenceService,
  series: string,
  r: ArchiveRemoval,
  actor: string | null,
  onProgress?: (removed: number) => void,
): Promise<{ archive: ArchiveMark; removed: number }> {
  const state = await service.store.loadSeries(await service.readSeries(series), service.firstNumber);
  let archive: ArchiveMark;
  if (state.archived?.sha256 === r.sha256) {
    // Marked already by this archive (an earlier run that stopped): go on with the removal.
    archive = state.archived;
  } else {
    const refusal = notArchivable(service, state);
    if (refusal) throw refusal;
    const known = streamed.get(service)?.get(r.sha256);
    if (known?.series !== series || known.head.seq !== r.head.seq || known.head.hash !== r.head.hash) {
      throw new ValidationError(
        `this instance streamed no archive of series ${series} with checksum ${r.sha256} and head ${r.head.seq}:${r.head.hash}: nothing was removed. Run seqd archive against one instance (its own --url), which writes the archive and then removes the series`,
        { field: 'sha256' },
      );
    }
    try {
      archive = await service.markArchived(series, { file: r.file, sha256: r.sha256, headSeq: r.head.seq, headHash: r.head.hash, reason: r.reason }, actor);
    } catch (error) {
      // Marked meanwhile by this archive (a retry racing the first call): go on with the removal.
      const mark = error instanceof SeriesArchivedError ? (error.details?.['archive'] as ArchiveMark | undefined) : undefined;
      if (!mark || mark.sha256 !== r.sha256) throw error;
      archive = mark;
    }
  }
  let removed = 0;
  for (let n = await service.store.purgeArchived(series); n > 0; n = await service.store.purgeArchived(series)) {
    removed += n;
    onProgress?.(removed);
  }
  // A purge stops at nothing left, or at a state that lost its mark (written by a seqd that does
  // not know archives): the second must not pass for a finished removal.
  const after = await service.store.loadSeries(series, service.firstNumber);
  if (after.archived?.sha256 !== archive.sha256) {
    throw new StoreUnavailableError(`series ${series} lost its archive mark while it was removed (an older seqd still serving it?): upgrade every instance, then run the removal again`);
  }
  return { archive, removed };
}

/** Refuses (410, naming the archive) a read of number records of a series that left with its archive. */
export async function refuseArchived(service: SequenceService, series: string): Promise<void> {
  const mark = (await service.store.loadSeries(series, service.firstNumber)).archived;
  if (mark) throw archivedError(series, mark);
}
