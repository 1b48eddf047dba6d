import type { FormerNumbering, NumberingProfile } from '../domain/numbering-profile.js';
import type { CommitPlan } from '../domain/planner.js';
import type {
  AuditEvent,
  AuditEventType,
  InvoiceType,
  NumberRecord,
  NumberStatus,
  RequestRecord,
  SeriesState,
  Settings,
} from '../domain/types.js';
import type { StoreLoader, StoreSnapshot } from './store-transfer.js';

/**
 * Answer of {@link SequenceStore.commit}. A store that loses track of a commit (timeout, dropped
 * connection, a failover) first tries to settle it by reading the batch id back; it throws
 * `StoreUnavailableError` only when nothing was committed, and `OutcomeUnknownError` when the
 * batch may have landed or may still land (the caller then re-sends the same plan until the store
 * answers, and reloads the series state before the next plan).
 */
export type CommitResult =
  | { readonly status: 'committed'; readonly version: string }
  | { readonly status: 'conflict'; readonly state: SeriesState };

/**
 * What `lookupRequests` answers: the unexpired records by key, and the store's version of every
 * key looked up, found or not. A plan carries the versions of the keys it records, and the commit
 * compares them (etcd), so a plan re-sent later cannot take a key recorded since.
 */
export class RequestLookup extends Map<string, RequestRecord> {
  readonly versions = new Map<string, string>();
}

export interface StoreLimits {
  /** Most ops the engine may put into one batch (etcd: bounded by its per-transaction limits). */
  readonly maxOpsPerBatch: number;
}

/**
 * Offered by a store that can take a batch planned on the result of one still committing, so that
 * planning and the next commit overlap the current one. Such a store must apply the commits of a
 * series in the order they were submitted and must refuse (conflict) a batch whose base version
 * and base hash are not the stored ones: a batch planned on a predecessor that failed can then
 * never land.
 */
export interface StorePipelining {
  /** Most batches of one series that may be committing at once. */
  readonly maxInFlight: number;
  /**
   * The version the series gets when `commit` lands (its base is `commit.baseVersion`). It may be
   * a prediction that only this store understands, as long as `commit` on a plan based on it
   * lands only after `commit` itself did, directly on its result.
   */
  nextVersion(commit: CommitPlan): string;
}

export interface AuditQuery {
  readonly series: string;
  readonly number?: number | undefined;
  readonly siteId?: string | undefined;
  readonly partitionId?: string | undefined;
  readonly invoiceType?: InvoiceType | undefined;
  readonly type?: AuditEventType | undefined;
  /** Epoch ms, inclusive. */
  readonly from?: number | undefined;
  /** Epoch ms, inclusive. */
  readonly to?: number | undefined;
  /** Keyset pagination: events with seq below (desc) or above (asc) this one. */
  readonly cursor?: number | undefined;
  readonly order: 'asc' | 'desc';
  readonly limit: number;
}

export interface NumberQuery {
  readonly series: string;
  readonly statuses: readonly Exclude<NumberStatus, 'issued'>[];
  readonly limit: number;
  /** Only numbers above this one (paging: the last number of the previous page). */
  readonly afterNumber?: number | undefined;
}

export interface TotalsRow {
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  readonly issued: number;
  readonly refilled: number;
  readonly released: number;
}

/**
 * Who a store is: given once, when the store is created (or first opened by a seqd that keeps
 * identities), and never recreated. A data directory remembers the id it served (see
 * `store-marker.ts`), so a lost or replaced database is refused instead of restarting numbering.
 */
export interface StoreIdentity {
  readonly storeId: string;
  /** Epoch ms. */
  readonly createdAt: number;
  /** True when the store held data before it was given an identity (created by an older seqd). */
  readonly adopted: boolean;
  /** The numbering the store's series follow (changed only by `seqd change-numbering`). */
  readonly numbering: NumberingProfile;
  /**
   * Every numbering the store had before, oldest first: what its series printed under them stays
   * printed, so no series may print it again (see `printed-frames.ts`), and exports and replays
   * show it as printed (see `printed-text.ts`). One replaced at a start is kept once; one replaced
   * by `seqd change-numbering` every time, with the time of the change. Absent in stores from
   * before this was kept.
   */
  readonly formerNumbering?: readonly FormerNumbering[] | undefined;
  /** What the last printed-number check at start ran against (see `printed-check.ts`). */
  readonly printedChecked?: string | undefined;
}

export interface StoreHealth {
  readonly kind: string;
  readonly healthy: boolean;
  readonly detail: Record<string, unknown>;
  /** PostgreSQL: the primary seqd writes to and its streaming standbys, as the primary sees them. */
  readonly replication?: ReplicationStatus | undefined;
}

/** A database primary and the standbys streaming from it (display and metrics only). */
export interface ReplicationStatus {
  /** `host:port` of the primary (`local` over a Unix socket). */
  readonly primary: string;
  readonly serverVersion: string;
  /** The primary's `synchronous_standby_names` ('' when no standby must confirm a commit). */
  readonly synchronousStandbyNames: string;
  readonly sizeBytes: number;
  readonly standbys: readonly StandbyStatus[];
}

export interface StandbyStatus {
  /** The standby's `application_name` (what `synchronous_standby_names` refers to). */
  readonly name: string;
  readonly address: string | null;
  /** `streaming`, `catchup`, … (null when seqd's role may not see it: grant it pg_monitor). */
  readonly state: string | null;
  /** `sync`, `quorum`, `potential` or `async`. */
  readonly syncState: string | null;
  /** WAL the standby has not replayed yet (bytes); null when not visible. */
  readonly lagBytes: number | null;
  /** Seconds the standby's replay trails the primary; null when caught up and idle. */
  readonly replayLagSeconds: number | null;
}

/**
 * The one contract every backend implements (SQLite embedded, etcd for HA), checked by the
 * shared contract suite in `test/contract`.
 *
 * Guarantees an implementation must give:
 * - `commit` is atomic: every event, number change, total and the new series state land
 *   together or not at all, and are durable (fsync'd / quorum-committed) before it resolves.
 * - `commit` compares `plan.baseVersion` with the stored series version inside the same atomic
 *   write; on a mismatch nothing is written and the current state comes back as a conflict. A
 *   conflict is final: the batch did not and will not land.
 * - Re-applying a committed `plan.batchId` writes nothing and answers `committed`.
 * - A key of `plan.requests` already recorded, unexpired, by another commit (of any series) makes
 *   the commit a conflict: checked in the same atomic write, so a key never owns two allocations.
 * - Reads never return state that a later read contradicts (no stale reads after a commit).
 */
export interface SequenceStore {
  readonly kind: 'sqlite' | 'etcd' | 'postgres';
  readonly limits: StoreLimits;
  readonly pipelining?: StorePipelining | undefined;

  /** The series' state, creating it empty at `start` when it does not exist yet. */
  loadSeries(series: string, start: number): Promise<SeriesState>;
  /**
   * Moves a series that holds no event yet (created empty by a load, nothing issued, imported or
   * closed) to begin at `start`, compared on `version`, the state it was read at: a series that
   * committed anything since is left as it is. Answers the state after, either way. Any plan made
   * on the earlier state can no longer commit (the version moves).
   */
  moveEmptySeriesStart(series: string, start: number, version: string): Promise<SeriesState>;
  /**
   * Records of numbers at or below the series HWM: the holder of a counter number, or the
   * state of a released, void or refilled one. Numbers never issued are absent from the map.
   */
  lookupNumbers(series: string, numbers: readonly number[]): Promise<Map<number, NumberRecord>>;
  /**
   * The stored version of the series (null if it does not exist), read so that no commit
   * acknowledged before the call is missed: a refusal is checked against it before it is answered.
   */
  seriesVersion(series: string): Promise<string | null>;
  /**
   * Records of these idempotency keys committed at or after `notBefore` (epoch ms), in whichever
   * series they were committed (records older than the window are absent). A key names one
   * request across all series; `series` is searched too for records written before that.
   * `commit` writes `plan.requests` in the same atomic write.
   */
  lookupRequests(series: string, keys: readonly string[], notBefore: number): Promise<RequestLookup>;
  commit(plan: CommitPlan): Promise<CommitResult>;
  /**
   * Deletes idempotency records past the window, a bounded amount per call; answers how many.
   * Absent when the store does it by itself (SQLite, inside its commits).
   */
  sweepRequests?(now?: number): Promise<number>;

  /**
   * Removes what an archived series leaves behind in the store (see `ArchiveMark`): its events up
   * to the archive's head and its number records, a bounded amount per call; answers how many
   * went (0: none are left). Does nothing to a series that is not archived: the mark is read in
   * the deleting transaction. The series state, its totals and its `archive` event stay.
   */
  purgeArchived(series: string): Promise<number>;

  /**
   * Events of a series in ascending order after `afterSeq`, at most `limit`, for verification and
   * export. May answer fewer than `limit` while more follow (etcd reads a few batches at a time):
   * only an empty answer means no event follows.
   */
  readEvents(series: string, afterSeq: number, limit: number): Promise<AuditEvent[]>;
  queryEvents(query: AuditQuery): Promise<AuditEvent[]>;
  listNumbers(query: NumberQuery): Promise<NumberRecord[]>;
  totals(series: string): Promise<TotalsRow[]>;
  listSeries(): Promise<string[]>;
  /**
   * Every series with its stored version (the version `loadSeries` answers), by name, in one
   * read. Every change to a series gives it a new version: a series listed at the version of a
   * state loaded earlier has not changed since, so readers of every series (stats, metrics, the
   * dashboard) need to load only the series that changed.
   */
  seriesVersions(): Promise<Map<string, string>>;
  loadSettings(): Promise<Partial<Settings>>;
  /** The store's identity, or null for a store never given one. */
  loadIdentity(): Promise<StoreIdentity | null>;
  /**
   * Writes `next` only if the stored identity is still `expected` (null: none), atomically;
   * answers the identity stored afterwards, which is another instance's when that one won.
   */
  saveIdentity(next: StoreIdentity, expected: StoreIdentity | null): Promise<StoreIdentity>;
  health(): Promise<StoreHealth>;
  /**
   * A consistent, read-only view of the whole store at one point in time, for a backup taken
   * while it serves (see {@link StoreSnapshot}).
   */
  openSnapshot(): Promise<StoreSnapshot>;
  /** Writes a backup's content into this store; only for a store no seqd serves (see {@link StoreLoader}). */
  openLoader(): StoreLoader;
  close(): Promise<void>;
}
