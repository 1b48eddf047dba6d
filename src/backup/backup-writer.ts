import { createHash } from 'node:crypto';
import type { StoreSnapshot } from '../storage/store-transfer.js';
import { ARCHIVE_FORMAT, BACKUP_FORMAT, BACKUP_VERSION, eventRow, numberRow, type BackupCounts, type BackupLine, type ChainHead } from './backup-format.js';
import { requestCutoff } from '../storage/request-retention.js';

const EVENTS_PER_LINE = 1000;
const NUMBERS_PER_LINE = 2000;
const REQUESTS_PER_LINE = 500;

export interface BackupProgress {
  readonly series: number;
  readonly seriesTotal: number;
  readonly events: number;
}

export interface BackupSource {
  readonly snapshot: StoreSnapshot;
  readonly kind: string;
  /** Idempotency records committed longer ago than this are left out (they have expired). */
  readonly requestWindowMs: number;
  readonly now: () => number;
  readonly onProgress?: ((p: BackupProgress) => void) | undefined;
  /** Only this series, as an archive (see `ARCHIVE_FORMAT`); absent: the whole store, as a backup. */
  readonly series?: string | undefined;
}

/**
 * The lines of a backup of `snapshot`, each ending in a newline, the manifest last. Reads page by
 * page and yields between pages, so a backup of a store that serves does not stall it; the caller
 * compresses and writes (see `backup-file.ts`) or streams them (the admin API).
 */
export async function* backupLines(o: BackupSource): AsyncGenerator<string> {
  const sha = createHash('sha256');
  const line = (l: BackupLine): string => {
    const text = `${JSON.stringify(l)}\n`;
    sha.update(text);
    return text;
  };
  const createdAt = o.now();
  const s = o.snapshot;
  const counts: BackupCounts = { series: 0, events: 0, numbers: 0, requests: 0 };
  const heads: ChainHead[] = [];
  const archive = o.series !== undefined;
  if (archive) {
    // Checked on the snapshot itself: the series may have changed since the caller looked.
    const image = await s.series(o.series);
    if (!image || image.state.closedAt === null || image.state.archived) throw new Error(`series ${o.series} is not closed, or archived already, in the snapshot: no archive written`);
  }
  const store = { kind: o.kind, position: s.position };
  yield line(
    archive
      ? { t: 'header', format: ARCHIVE_FORMAT, series: o.series, version: BACKUP_VERSION, createdAt, store, requestWindowMs: 0 }
      : { t: 'header', format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt, store, requestWindowMs: o.requestWindowMs },
  );
  const identity = await s.identity();
  if (identity) yield line({ t: 'identity', identity });
  // Maintenance is the state of a store, not of its numbers: a restore decides it (see restore.ts).
  const { maintenance: _maintenance, migratedTo: _migratedTo, ...settings } = await s.settings();
  if (!archive) yield line({ t: 'settings', settings });
  // States, number records and idempotency records first, then the trails: a store that cannot
  // hold a point in time for long (etcd compacts old revisions) reads the changing part quickly,
  // and events never change once committed.
  const names = archive ? [o.series] : await s.listSeries();
  const trails: { name: string; from: number; eventSeq: number }[] = [];
  for (const name of names) {
    const image = await s.series(name);
    if (!image) continue;
    counts.series++;
    yield line({ t: 'series', name, state: image.state, totals: image.totals });
    // An archived series' numbers and events up to its archive head are in its archive file
    // (and leave the store): the backup holds what follows.
    const archived = image.state.archived ?? null;
    for (let after = -Infinity; !archived; ) {
      const page = await s.numbers(name, after, NUMBERS_PER_LINE);
      const last = page[page.length - 1];
      if (!last) break;
      counts.numbers += page.length;
      yield line({ t: 'numbers', series: name, records: page.map(numberRow) });
      after = last.number;
    }
    trails.push({ name, from: archived?.headSeq ?? 0, eventSeq: image.state.eventSeq });
    heads.push({ series: name, seq: image.state.eventSeq, hash: image.state.lastHash, hwm: image.state.hwm });
  }
  // Bounded by the newest record, whatever the clock of this process (a pass over the records
  // first: event stamps would not do, an admin command ahead stamps its own events by its clock).
  const notBefore = archive ? 0 : requestCutoff(createdAt, await newestRecordAt(s), o.requestWindowMs);
  for (let after: string | null = null; !archive; ) {
    const page = await s.requests(after, REQUESTS_PER_LINE);
    const last = page[page.length - 1];
    if (!last) break;
    const live = page.filter((r) => r.committedAt >= notBefore);
    counts.requests += live.length;
    if (live.length > 0) yield line({ t: 'requests', records: live });
    after = last.key;
  }
  for (const [i, { name, from, eventSeq }] of trails.entries()) {
    // The state bounds the trail: events committed after the snapshot are not part of it.
    for (let after = from; after < eventSeq; ) {
      const page = await s.events(name, after, Math.min(EVENTS_PER_LINE, eventSeq - after));
      const last = page[page.length - 1];
      if (!last) throw new Error(`series ${name}: the trail ends at event ${after}, its state at ${eventSeq}`);
      counts.events += page.length;
      yield line({ t: 'events', series: name, events: page.map(eventRow) });
      after = last.seq;
      o.onProgress?.({ series: i + 1, seriesTotal: trails.length, events: counts.events });
    }
  }
  o.onProgress?.({ series: trails.length, seriesTotal: trails.length, events: counts.events });
  const manifest = { t: 'manifest' as const, counts, heads, sha256: sha.digest('hex') };
  yield `${JSON.stringify(manifest)}\n`;
}

/** The commit time of the newest idempotency record in the snapshot (null: none). */
async function newestRecordAt(s: StoreSnapshot): Promise<number | null> {
  let newest: number | null = null;
  for (let after: string | null = null; ; ) {
    const page = await s.requests(after, REQUESTS_PER_LINE);
    const last = page[page.length - 1];
    if (!last) return newest;
    for (const r of page) newest = Math.max(newest ?? r.committedAt, r.committedAt);
    after = last.key;
  }
}
