/**
 * Vocabulary of the sequence domain. Pure data: no I/O, no clocks.
 */

/** The invoice types a request may carry. `suppressed` numbers are issued and released at once. */
export const INVOICE_TYPES = ['on-cycle', 'off-cycle', 'simulated', 'suppressed'] as const;
export type InvoiceType = (typeof INVOICE_TYPES)[number];

/** Who holds a number: the site and partition that asked for it. */
export interface Holder {
  readonly siteId: string;
  readonly partitionId: string;
}

/**
 * How released numbers are treated:
 * - `lowest-first`: an open gap until the next allocations refill it, lowest first;
 * - `chronological`: refilled only while no higher number is held (numbers stay in date order);
 *   a number released below a held one is void at once, with its reason;
 * - `none`: void at once, never reused.
 */
export const GAP_POLICIES = ['lowest-first', 'chronological', 'none'] as const;
export type GapPolicy = (typeof GAP_POLICIES)[number];

/** State of one number that is not simply "issued from the counter and still held". */
export type NumberStatus = 'issued' | 'refilled' | 'open' | 'void' | 'confirmed';

/** What the store knows about one number, for release checks and the gap report. */
export interface NumberRecord {
  readonly number: number;
  readonly status: NumberStatus;
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  /** Release or void reason, for `open` and `void`. */
  readonly reason: string | null;
  /** Epoch ms of the last change of this number. */
  readonly changedAt: number;
  /**
   * Seq of the `issue` or `refill` event that gave the number to its holder: the allocation it
   * belongs to (after a release, the allocation that held it last). 0 when unknown: a record
   * written before allocations were tracked.
   */
  readonly grant: number;
  /** For a number refilled (and perhaps confirmed since): the release that ended the hold before. */
  readonly previous?: PreviousHold | undefined;
}

/**
 * The allocation that held a number before its refill, and its release reason: a late repeat of
 * that release is then recognised as done instead of refused.
 */
export interface PreviousHold {
  readonly grant: number;
  readonly reason: string;
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
}

/**
 * Names one allocation: the seqs of the first and last `issue`/`refill` event of the request that
 * received the numbers (the events of one request are consecutive). A release or confirm that
 * carries one acts only on a number that this allocation still holds.
 */
export interface AllocationRef {
  readonly first: number;
  readonly last: number;
}

/**
 * A committed request that carried an idempotency key: a retry with the same key and the same
 * body gets this outcome back instead of new numbers. Written in the allocation's own commit.
 */
export interface RequestRecord {
  readonly key: string;
  /** The series the request took its numbers in: a key owns numbers in one series only. */
  readonly series: string;
  /** Site, partition, type and count of the original request. */
  readonly fingerprint: string;
  readonly numbers: readonly number[];
  readonly refilled: readonly number[];
  readonly released: boolean;
  /** Epoch ms of the commit that made the original durable. */
  readonly committedAt: number;
  /** The allocation the request received (null in records written before allocations were tracked). */
  readonly allocation: AllocationRef | null;
}

/** An open gap kept in the series state (lowest first). */
export interface OpenGap {
  readonly number: number;
  readonly reason: string;
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  readonly releasedAt: number;
  /** The allocation that held the number before its release (see {@link NumberRecord.grant}). */
  readonly grant: number;
}

/** Counters kept per series and updated in the same commit as the change. */
export interface SeriesCounters {
  /** Numbers handed out, counter and refills together. */
  issued: number;
  refilled: number;
  released: number;
  voided: number;
}

/**
 * Everything the planner needs about one series. Loaded from the store and advanced in memory
 * after every commit. `version` is opaque: the store compares it in the committing transaction.
 */
export interface SeriesState {
  readonly series: string;
  /** First number of the series. */
  readonly start: number;
  /** High-water mark: highest number ever issued (`start - 1` before the first). */
  readonly hwm: number;
  readonly version: string;
  /** Sequence number of the last audit event of this series (0 before the first). */
  readonly eventSeq: number;
  /** Hash of the last audit event (the genesis hash before the first). */
  readonly lastHash: string;
  /** Open gaps, ascending by number. */
  readonly openGaps: readonly OpenGap[];
  readonly counters: Readonly<SeriesCounters>;
  /**
   * Epoch ms of the `close` event that ended this series (its period is over), or null while it
   * is open. A closed series issues nothing more; a number released in it is void at once.
   */
  readonly closedAt: number | null;
  /**
   * Time (epoch ms) of the series' last event, 0 before the first. The series' clock never runs
   * back: a batch is stamped no earlier than this, whichever instance's clock plans it.
   */
  readonly lastEventAt: number;
  /**
   * Set by the `archive` event: the series' events up to `headSeq` and its number records went to
   * an archive file and leave the store. Absent or null: not archived.
   */
  readonly archived?: ArchiveMark | null | undefined;
}

/**
 * Where an archived series went: the archive file (as named when it was written), its checksum
 * and the chain head it ends at. The `archive` event that follows that head in the store names
 * the same, so the stored trail and the file are linked by the hash chain.
 */
export interface ArchiveMark {
  readonly file: string;
  /** The archive's manifest checksum (SHA-256, hex). */
  readonly sha256: string;
  /** The last event in the archive, and its hash (the `archive` event's previous hash). */
  readonly headSeq: number;
  readonly headHash: string;
  /** Epoch ms of the `archive` event. */
  readonly archivedAt: number;
}

/** Runtime settings changed through audited toggles. */
export interface Settings {
  simulatedEnabled: boolean;
  /** The store commits nothing while on (see {@link MaintenanceOp}); absent: off. */
  maintenance?: boolean | undefined;
  /** Where the numbering moved (`seqd migrate`): maintenance stays on for good. */
  migratedTo?: string | undefined;
}
export type SettingKey = 'simulatedEnabled';

/**
 * Who caused an op, written on every audit event it produces (see {@link AuditEvent.actor}).
 * Absent or null: nobody known (API keys off).
 */
interface Acted {
  readonly actor?: string | null | undefined;
}

export interface AllocateOp extends Acted {
  readonly kind: 'allocate';
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  readonly count: number;
  readonly requestId?: string | undefined;
  /**
   * Only answer from the key's record (a retry looked up in an earlier period's series): never
   * allocate here when the record is missing.
   */
  readonly replayOnly?: boolean | undefined;
}

export interface ReleaseOp extends Acted {
  readonly kind: 'release';
  readonly sequenceNumber: number;
  readonly siteId: string;
  readonly partitionId: string;
  readonly reason: string;
  /**
   * Expiry: release only if the number's record has not changed after this time (epoch ms), so a
   * number refilled or confirmed since the sweep looked is left alone.
   */
  readonly ifUnchangedSince?: number | undefined;
  /** Act only if this allocation holds the number (see {@link AllocationRef}). */
  readonly allocation?: AllocationRef | undefined;
  /**
   * Expiry: release only if the number has been held this long (ms) by the time of the commit,
   * on the series' clock (not the sweeping instance's).
   */
  readonly heldAtLeastMs?: number | undefined;
}

export interface SettingOp extends Acted {
  readonly kind: 'setting';
  readonly key: SettingKey;
  readonly value: boolean;
  readonly reason: string;
}

/** Finalises a held number: from then on it can no longer be released. */
export interface ConfirmOp extends Acted {
  readonly kind: 'confirm';
  readonly sequenceNumber: number;
  readonly siteId: string;
  readonly partitionId: string;
  /** Act only if this allocation holds the number (see {@link AllocationRef}). */
  readonly allocation?: AllocationRef | undefined;
}

/**
 * Ends a series whose period is over: its open gaps become void (they can never be refilled) and
 * a `close` event records the final state. Closing a closed series changes nothing.
 */
export interface CloseOp extends Acted {
  readonly kind: 'close';
  readonly reason: string;
}

/**
 * Records a change of the store's numbering (series split, rollover, formats) in the trail:
 * written by `seqd change-numbering`, with what changed and where the new series start.
 */
export interface NumberingOp extends Acted {
  readonly kind: 'numbering';
  readonly reason: string;
}

/**
 * Switches the store's maintenance on or off (audited as a `setting` event). While it is on the
 * store commits nothing but the batch that switches it off: every instance is refused inside its
 * committing transaction, so a copy taken while it is on (a migration) misses no number.
 */
export interface MaintenanceOp extends Acted {
  readonly kind: 'maintenance';
  readonly enabled: boolean;
  readonly reason: string;
  /**
   * With `enabled`: the numbering moved to this store (`seqd migrate`). The mark is permanent:
   * the store refuses to switch maintenance off ever after, so it can never issue again.
   */
  readonly migratedTo?: string | undefined;
}

/**
 * Records that the numbering moved here from another store (`seqd migrate`): written into the
 * moved trail once it is complete, and ends the maintenance it was restored under, in one commit.
 */
export interface MigrateOp extends Acted {
  readonly kind: 'migrate';
  readonly reason: string;
}

/** A number the legacy system left unused, with its reason (known gaps of `ImportOp`). */
export interface LegacyGap {
  readonly number: number;
  readonly reason: string;
}

/**
 * Starts a series where another numbering system left off (`seqd import-legacy`): the numbers from
 * the series start to `last` count as issued by that system (an `import` event names them and
 * their source), its known gaps are void with their reasons, and numbering goes on at `last + 1`.
 * Only a series that has issued nothing yet takes one.
 */
export interface ImportOp extends Acted {
  readonly kind: 'import';
  readonly last: number;
  readonly gaps: readonly LegacyGap[];
  /** Where the numbers come from (system, export, checksum): the import event's reason. */
  readonly reason: string;
}

/** The holder of imported numbers: issued by the legacy system, released or confirmed by nobody here. */
export const LEGACY_HOLDER = { siteId: 'legacy', partitionId: 'legacy', invoiceType: 'on-cycle' } as const;

/**
 * Records that a closed series was written to an archive file ending at `headSeq`/`headHash`
 * (`seqd archive`): an `archive` event names the file and checksum, and the series refuses every
 * op from then on, so its numbers and events can leave the store. Refused unless the series is
 * closed and its trail still ends at that head.
 */
export interface ArchiveOp extends Acted {
  readonly kind: 'archive';
  readonly file: string;
  readonly sha256: string;
  readonly headSeq: number;
  readonly headHash: string;
  readonly reason: string;
}

export type Op = AllocateOp | ReleaseOp | SettingOp | ConfirmOp | CloseOp | NumberingOp | MaintenanceOp | MigrateOp | ImportOp | ArchiveOp;

/** Audit event types. Ranges (`first`..`last`) keep one event per request, not per number. */
export const AUDIT_EVENT_TYPES = ['issue', 'refill', 'release', 'void', 'setting', 'confirm', 'close', 'numbering', 'migrate', 'import', 'archive'] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  readonly series: string;
  readonly seq: number;
  /** Epoch ms. */
  readonly ts: number;
  readonly type: AuditEventType;
  readonly first: number | null;
  readonly last: number | null;
  readonly siteId: string | null;
  readonly partitionId: string | null;
  readonly invoiceType: InvoiceType | null;
  readonly reason: string | null;
  readonly requestId: string | null;
  readonly batchId: string;
  readonly node: string;
  /**
   * For `release`, `confirm` and the `void` of a release: the allocation acted on, as the seq of
   * the `issue` or `refill` event that gave the number(s) to their holder. Null otherwise (and in
   * events written before allocations were tracked).
   */
  readonly allocation: number | null;
  /**
   * Who caused the event: the name of the API key of the request (never the key itself), or seqd
   * itself (`system:expiry`, `system:rollover`, `system:undelivered`, `system:config`) or the local
   * `seqd change-numbering` (`cli:change-numbering`); a key name holds no colon, so neither can
   * pass for a key. Null when no key was asked for (API keys off) and in events written before
   * actors were recorded.
   */
  readonly actor: string | null;
  readonly prevHash: string;
  readonly hash: string;
}

/** Per-number change written with a commit (only numbers that leave the plain "issued" state). */
export interface NumberChange {
  readonly number: number;
  readonly status: 'open' | 'void' | 'refilled' | 'confirmed';
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  readonly reason: string | null;
  /** The allocation holding (or, once released, last holding) the number. */
  readonly grant: number;
  readonly previous?: PreviousHold | undefined;
}

/** Totals by site × partition × type, added in the same commit. */
export interface TotalsDelta {
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  issued: number;
  refilled: number;
  released: number;
}
