import type { AuditEvent, NumberRecord, RequestRecord, SeriesState, Settings } from '../domain/types.js';
import type { StoreIdentity, TotalsRow } from './sequence-store.js';

/** A series as a backup carries it: its state (the store's `version` is not kept) and totals. */
export interface SeriesImage {
  readonly state: Omit<SeriesState, 'version'>;
  readonly totals: readonly TotalsRow[];
}

/**
 * A read-only view of a whole store at one point in time, for a backup taken while the store
 * serves: every read answers what the store held at that point, whatever commits meanwhile
 * (SQLite: one read transaction on the WAL; etcd: every range at one revision; PostgreSQL: one
 * repeatable-read transaction). Close it when done: it holds that point open (SQLite's WAL and
 * PostgreSQL's old row versions cannot be cleaned up behind it).
 */
export interface StoreSnapshot {
  /** Where the view stands, in the store's own terms (an etcd revision, a PostgreSQL LSN), for the manifest. */
  readonly position: string;
  identity(): Promise<StoreIdentity | null>;
  settings(): Promise<Partial<Settings>>;
  listSeries(): Promise<string[]>;
  series(name: string): Promise<SeriesImage | null>;
  /** Events after `afterSeq`, ascending, at most `limit`; may answer fewer while more follow: only an empty answer ends. */
  events(series: string, afterSeq: number, limit: number): Promise<AuditEvent[]>;
  /** Every stored number record (open, void, refilled, confirmed) above `afterNumber`, ascending, at most `limit`. */
  numbers(series: string, afterNumber: number, limit: number): Promise<NumberRecord[]>;
  /** Idempotency records with keys after `afterKey` (null: from the first), by key, at most `limit`, expired or not. */
  requests(afterKey: string | null, limit: number): Promise<RequestRecord[]>;
  close(): Promise<void>;
}

/**
 * Writes a backup's content into a store, as it was: events keep their seq, hash and batch, numbers
 * their records. Used only on a store no seqd serves. `begin` marks the store as being loaded and
 * `finish` removes the mark: a store whose load did not finish refuses to open (see
 * {@link RESTORE_UNFINISHED}) rather than serve a part of the numbers.
 */
export interface StoreLoader {
  /** What the store holds now (a restore refuses a store that holds anything, unless told). */
  contents(): Promise<StoreContents>;
  /**
   * Marks the store as being loaded and puts it in maintenance, in that order and before anything
   * is deleted: an instance still serving it commits nothing from then on. `replace`: then
   * deletes everything it holds.
   */
  begin(replace: boolean): Promise<void>;
  putIdentity(identity: StoreIdentity): Promise<void>;
  putSettings(settings: Partial<Settings>): Promise<void>;
  /** Every number record of the series (`numbers` as a snapshot answers them), with its state. */
  putSeries(image: SeriesImage, numbers: readonly NumberRecord[]): Promise<void>;
  /** The next events of a series, in order, after its `putSeries`; `last`: no more follow. */
  putEvents(series: string, events: readonly AuditEvent[], last: boolean): Promise<void>;
  putRequests(records: readonly RequestRecord[]): Promise<void>;
  /**
   * Removes the mark set by `begin`, leaving the store in maintenance (`maintenance`: its reason)
   * or not (null): a restored store commits nothing until someone switched maintenance off.
   */
  finish(maintenance: string | null): Promise<void>;
}

export interface StoreContents {
  /** The store's id, null when it has none. */
  readonly storeId: string | null;
  /** Last event of each series. */
  readonly heads: ReadonlyMap<string, number>;
  /** seqd instances known to serve it now (etcd registers them; other stores cannot tell: empty). */
  readonly instances: readonly string[];
  /** Where its numbering moved (`seqd migrate`), or null: such a store must never issue again. */
  readonly migratedTo: string | null;
}

/** What a store that was being loaded and never finished says when opened. */
export const RESTORE_UNFINISHED =
  'a restore into this store did not finish: it holds only part of a backup. Run `seqd restore` again with --replace';

/** What a store in maintenance answers to a batch (see `MaintenanceOp`). */
export const MAINTENANCE_MESSAGE =
  'the store is in maintenance (a migration, a restore drill or an operator): nothing was done; retry when maintenance is switched off';

/** What a store the numbering migrated away from answers to a switch of maintenance off. */
export const migratedMessage = (to: string) => `the numbering of this store moved to ${to}: it stays in maintenance for good and never issues again`;

/**
 * The version a restore gives each series it writes into a SQL store: the time of the restore in
 * ms. A commit adds one, so no state the series had before (nor one of an earlier restore) had it:
 * a reader that kept a state (the series cache of a running instance) sees the series as changed.
 */
export function restoredVersion(): number {
  return Date.now();
}
