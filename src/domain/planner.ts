import { GENESIS_HASH, sealEvent } from './audit-chain.js';
import {
  HolderMismatchError,
  InvoiceTypeDisabledError,
  NumberAlreadyReleasedError,
  IdempotencyKeyReusedError,
  NumberConfirmedError,
  NumberNotIssuedError,
  NumberReassignedError,
  ReplayedNumbersChangedError,
  RequestInOtherSeriesError,
  RequestKeyNotFoundError,
  SeriesArchivedError,
  SeriesClosedError,
  ValidationError,
  type SeqdError,
} from './errors/index.js';
import { SortedGaps, toRuns } from './sorted-gaps.js';
import {
  INVOICE_TYPES,
  LEGACY_HOLDER,
  type ImportOp,
  type ArchiveMark,
  type ArchiveOp,
  type LegacyGap,
  type AllocateOp,
  type AllocationRef,
  type AuditEvent,
  type ConfirmOp,
  type AuditEventType,
  type CloseOp,
  type GapPolicy,
  type InvoiceType,
  type NumberChange,
  type NumberRecord,
  type Op,
  type PreviousHold,
  type ReleaseOp,
  type RequestRecord,
  type SeriesCounters,
  type SeriesState,
  type SettingOp,
  type Settings,
  type TotalsDelta,
} from './types.js';

export interface PlanContext {
  readonly batchId: string;
  readonly node: string;
  /** Epoch ms stamped on every event of the batch. */
  readonly now: number;
  readonly gapPolicy: GapPolicy;
  readonly settings: Readonly<Settings>;
  /**
   * Stored records of the idempotency keys this batch's allocations carry (unexpired ones). A key
   * absent here and from earlier ops of the batch is new.
   */
  readonly requests?: ReadonlyMap<string, RequestRecord> | undefined;
  /** The store's version of each key looked up (see `CommitPlan.requestVersions`). */
  readonly requestVersions?: ReadonlyMap<string, string> | undefined;
  /**
   * No event is stamped earlier (epoch ms): the latest change of numbering, so that a clock
   * behind the one that recorded it cannot date a commit into the numbering before (see
   * `printed-text.ts`).
   */
  readonly stampFloor?: number | undefined;
}

/** What makes two allocations "the same request" for an idempotency key. */
export function requestFingerprint(op: AllocateOp): string {
  return JSON.stringify([op.siteId, op.partitionId, op.invoiceType, op.count]);
}

export interface AllocateResult {
  readonly ok: true;
  readonly kind: 'allocate';
  /** All numbers of the request, ascending: refilled gaps first, then counter numbers. */
  readonly numbers: number[];
  readonly refilled: number[];
  /** True for `suppressed` requests: the numbers were released in the same commit. */
  readonly released: boolean;
  /** Set when this is a retry of an earlier request with the same key: its commit time (epoch ms). */
  readonly replayOf?: number | undefined;
  /** The allocation the numbers belong to (null: a replay of a record older than allocation tracking). */
  readonly allocation: AllocationRef | null;
}
export interface ReleaseResult {
  readonly ok: true;
  readonly kind: 'release';
  readonly sequenceNumber: number;
  readonly status: 'open' | 'void';
  readonly previousHolder: { siteId: string; partitionId: string; invoiceType: InvoiceType };
  /** True when the named allocation had given the number back already: nothing was written. */
  readonly alreadyReleased: boolean;
  /** Reason of the release that ended the allocation's hold (this one, or the earlier one). */
  readonly reason: string;
  /** The allocation released from (seq of the event that gave it the number). */
  readonly allocation: number;
}
export interface ConfirmResult {
  readonly ok: true;
  readonly kind: 'confirm';
  readonly sequenceNumber: number;
  /** True when it was confirmed before: nothing was written this time. */
  readonly alreadyConfirmed: boolean;
  readonly holder: { siteId: string; partitionId: string; invoiceType: InvoiceType };
  /** The allocation confirmed (seq of the event that gave it the number). */
  readonly allocation: number;
}
export interface CloseResult {
  readonly ok: true;
  readonly kind: 'close';
  /** True when the series was closed before: nothing was written this time. */
  readonly alreadyClosed: boolean;
  /** Open gaps made void by this close. */
  readonly voided: number;
}
export interface SettingResult {
  readonly ok: true;
  readonly kind: 'setting';
  readonly settings: Settings;
}
export interface Refusal {
  readonly ok: false;
  readonly error: SeqdError;
}
export interface NumberingResult {
  readonly ok: true;
  readonly kind: 'numbering';
}
export interface ArchiveResult {
  readonly ok: true;
  readonly kind: 'archive';
  readonly mark: ArchiveMark;
}
export type Outcome = AllocateResult | ReleaseResult | ConfirmResult | SettingResult | CloseResult | NumberingResult | ArchiveResult | Refusal;

/** Everything one atomic commit writes. A store applies all of it or nothing. */
export interface CommitPlan {
  readonly series: string;
  /** Unique id of the batch: a store that sees it committed already treats a re-apply as done. */
  readonly batchId: string;
  /** Series version the plan was made on; the commit must fail if the stored one differs. */
  readonly baseVersion: string;
  /** Hash of the last event before this batch: with `baseVersion`, names the exact state planned on. */
  readonly baseHash: string;
  readonly committedAt: number;
  readonly events: readonly AuditEvent[];
  readonly numberChanges: readonly NumberChange[];
  readonly totals: readonly TotalsDelta[];
  /** Settings changed by this batch, if any. */
  readonly settings: Partial<Settings> | null;
  /**
   * Maintenance switched on (true) or off (false) by this batch. Absent: an ordinary batch, which
   * the store must refuse inside the committing write while maintenance is on (MaintenanceError).
   */
  readonly maintenance?: boolean | undefined;
  /** With `maintenance: true`: marks the store as migrated away, for good (see `MaintenanceOp`). */
  readonly migratedTo?: string | undefined;
  /** Idempotency keys first used in this batch; the store writes them in the same commit. */
  readonly requests: readonly RequestRecord[];
  /**
   * For each key of `requests`, the store's version of it when it was looked up: a store whose
   * commit cannot check keys itself compares these, so this plan (or a re-send of it) can never
   * take a key recorded after the lookup.
   */
  readonly requestVersions: Readonly<Record<string, string>>;
  /** The series state after the commit (its `version` is the base; the store assigns the new one). */
  readonly next: SeriesState;
}

export interface BatchPlan {
  /** One outcome per op, in op order. */
  readonly outcomes: Outcome[];
  /** Null when no op changes anything (all refused). */
  readonly commit: CommitPlan | null;
  readonly settings: Settings;
}

/**
 * Applies a batch of ops to a series state, in arrival order, exactly as if they had run one by
 * one; decides numbers, refills, releases, audit events and counters. Pure: no I/O, no clock.
 *
 * `records` must hold the store's record of every number a release op names that is at or below
 * `state.hwm` and not an open gap of `state` (the caller looks them up before planning).
 */
export function planBatch(
  state: SeriesState,
  ops: readonly Op[],
  records: ReadonlyMap<number, NumberRecord>,
  ctx: PlanContext,
): BatchPlan {
  return new BatchPlanner(state, records, ctx).run(ops);
}

interface CounterRun {
  readonly first: number;
  readonly last: number;
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  /** Seq of the issue event. */
  readonly grant: number;
}

type Holding = { siteId: string; partitionId: string; invoiceType: InvoiceType };
/** A number's state during planning. */
type Current = Omit<NumberRecord, 'number' | 'changedAt'>;

/**
 * The allocation an event names: none for a grant of 0 (a number recorded before allocations were
 * tracked), so that the verifier does not hold it to one.
 */
const named = (grant: number): number | null => (grant === 0 ? null : grant);

/** How far ahead of the planning clock the series' clock is followed in decisions. */
const MAX_CLOCK_LEAD_MS = 60_000;
/**
 * How far ahead of the planning clock the series' clock is followed in stamps: a clock set back
 * by up to an hour (a bad NTP step, a restored VM) keeps the trail in time order; a last event
 * further ahead came from a clock that was plainly wrong, and following it would pin every later
 * time of the series there (and keep its numbers from expiring) until the real time caught up.
 */
export const MAX_STAMP_LEAD_MS = 3_600_000;

/** Whether the event `grant` gave its numbers to the allocation `ref`. */
const within = (grant: number, ref: AllocationRef) => ref.first <= grant && grant <= ref.last;
export const formatAllocationRef = (ref: AllocationRef) => (ref.first === ref.last ? `${ref.first}` : `${ref.first}-${ref.last}`);

class BatchPlanner {
  private hwm: number;
  private seq: number;
  private lastHash: string;
  private readonly gaps: SortedGaps;
  private readonly counters: SeriesCounters;
  private readonly settings: Settings;
  private settingsChanged: Partial<Settings> | null = null;
  private maintenance: boolean | undefined;
  private migratedTo: string | undefined;
  private readonly events: AuditEvent[] = [];
  /** Latest change per number in this batch (a number may change several times). */
  private readonly changes = new Map<number, NumberChange>();
  /** Counter numbers issued in this batch, to answer releases of them. */
  private readonly counterRuns: CounterRun[] = [];
  private readonly totals = new Map<string, TotalsDelta>();
  /** Idempotency keys first used in this batch. */
  private readonly newRequests = new Map<string, RequestRecord>();
  private closedAt: number | null;
  private archived: ArchiveMark | null;
  /**
   * The clock decisions are made on (how long a number was held): the caller's clock, following
   * the series' last event only within a plausible skew between instances.
   */
  private readonly now: number;
  /**
   * The time written: event stamps and every time stored with the batch (key records, releases,
   * close). Not before the series' last event, so a trail's times (invoice dates) stay in number
   * order: a clock set back stamps at the series' last time until it catches up. Only a last
   * event more than an hour ahead (a clock plainly wrong) is not followed (docs/operations.md).
   */
  private readonly stamp: number;
  /** Who caused the op being applied: every event it produces records it. */
  private actor: string | null = null;

  constructor(
    private readonly state: SeriesState,
    private readonly records: ReadonlyMap<number, NumberRecord>,
    private readonly ctx: PlanContext,
  ) {
    this.hwm = state.hwm;
    this.seq = state.eventSeq;
    this.lastHash = state.eventSeq === 0 ? GENESIS_HASH : state.lastHash;
    this.gaps = new SortedGaps(state.openGaps);
    this.counters = { ...state.counters };
    this.settings = { ...ctx.settings };
    this.closedAt = state.closedAt;
    this.archived = state.archived ?? null;
    // A last event further ahead than any plausible skew came from a clock that jumped: decisions
    // do not follow it (a number would otherwise be judged held for the whole jump).
    this.now = Math.max(ctx.now, Math.min(state.lastEventAt, ctx.now + MAX_CLOCK_LEAD_MS));
    this.stamp = Math.max(this.now, Math.min(state.lastEventAt, ctx.now + MAX_STAMP_LEAD_MS), ctx.stampFloor ?? 0);
  }

  run(ops: readonly Op[]): BatchPlan {
    // A batch that switches maintenance is exempt from it in the store: it may hold nothing else,
    // or ordinary ops would ride past a maintenance already on (the worker never mixes them).
    const single = (op: Op) => op.kind === 'maintenance' || op.kind === 'migrate' || op.kind === 'archive';
    const mixed = ops.length > 1 && ops.some(single);
    const outcomes = ops.map((op) => (mixed && single(op) ? refuse(new ValidationError(`a ${op.kind} op is committed in a batch of its own`)) : this.apply(op)));
    if (this.events.length === 0) return { outcomes, commit: null, settings: this.settings };
    const next: SeriesState = {
      series: this.state.series,
      start: this.state.start,
      hwm: this.hwm,
      version: this.state.version,
      eventSeq: this.seq,
      lastHash: this.lastHash,
      openGaps: this.gaps.toArray(),
      counters: this.counters,
      closedAt: this.closedAt,
      lastEventAt: this.stamp,
      ...(this.archived ? { archived: this.archived } : {}),
    };
    return {
      outcomes,
      settings: this.settings,
      commit: {
        series: this.state.series,
        batchId: this.ctx.batchId,
        baseVersion: this.state.version,
        baseHash: this.state.lastHash,
        committedAt: this.stamp,
        events: this.events,
        numberChanges: [...this.changes.values()],
        totals: [...this.totals.values()],
        settings: this.settingsChanged,
        ...(this.maintenance === undefined ? {} : { maintenance: this.maintenance }),
        ...(this.migratedTo === undefined ? {} : { migratedTo: this.migratedTo }),
        requests: [...this.newRequests.values()],
        requestVersions: Object.fromEntries([...this.newRequests.keys()].map((k) => [k, this.ctx.requestVersions?.get(k) ?? '0'])),
        next,
      },
    };
  }

  private apply(op: Op): Outcome {
    this.actor = op.actor ?? null;
    if (this.archived) return refuse(archivedError(this.state.series, this.archived));
    switch (op.kind) {
      case 'archive':
        return this.archive(op);
      case 'allocate':
        return this.allocate(op);
      case 'release':
        return this.release(op);
      case 'setting':
        return this.setting(op);
      case 'confirm':
        return this.confirm(op);
      case 'close':
        return this.close(op);
      case 'numbering':
        this.event('numbering', null, null, null, op.reason, undefined);
        return { ok: true, kind: 'numbering' };
      case 'import':
        return this.importLegacy(op);
      case 'migrate':
        this.maintenance = false;
        this.settings.maintenance = false;
        this.event('migrate', null, null, null, op.reason, undefined);
        return { ok: true, kind: 'numbering' };
      case 'maintenance':
        this.maintenance = op.enabled;
        this.settings.maintenance = op.enabled;
        if (op.enabled && op.migratedTo !== undefined) this.migratedTo = this.settings.migratedTo = op.migratedTo;
        this.event('setting', null, null, null, `maintenance=${op.enabled ? 'on' : 'off'}: ${op.reason}`, undefined);
        return { ok: true, kind: 'setting', settings: { ...this.settings } };
    }
  }

  /**
   * The archive was written from the trail up to `op.headSeq`: only a closed series whose trail
   * still ends there may leave the store, or an event the file lacks would be lost with it.
   */
  private archive(op: ArchiveOp): Outcome {
    const s = this.state;
    if (this.closedAt === null) {
      return refuse(new ValidationError(`series ${s.series} is open: close it (its period must be over) before it is archived`, { field: 'series' }));
    }
    if (this.seq !== op.headSeq || this.lastHash !== op.headHash) {
      return refuse(
        new ValidationError(`series ${s.series} ends at event ${this.seq}, not at event ${op.headSeq} where the archive ends: write the archive again`, {
          field: 'head',
          details: { seq: this.seq, hash: this.lastHash },
        }),
      );
    }
    const issuedAny = this.hwm >= s.start;
    const c = this.counters;
    const report = `issued ${c.issued}, refilled ${c.refilled}, released ${c.released}, void ${c.voided}`;
    const reason = `archived to ${op.file} (sha256 ${op.sha256}, events 1..${op.headSeq}; ${report}): ${op.reason}`;
    this.event('archive', issuedAny ? s.start : null, issuedAny ? this.hwm : null, null, reason, undefined);
    this.archived = { file: op.file, sha256: op.sha256, headSeq: op.headSeq, headHash: op.headHash, archivedAt: this.stamp };
    return { ok: true, kind: 'archive', mark: this.archived };
  }

  private close(op: CloseOp): Outcome {
    if (this.closedAt !== null) return { ok: true, kind: 'close', alreadyClosed: true, voided: 0 };
    let voided = 0;
    for (let gap = this.gaps.takeLowest(); gap; gap = this.gaps.takeLowest()) {
      const holder = { siteId: gap.siteId, partitionId: gap.partitionId, invoiceType: gap.invoiceType };
      const reason = `${op.reason}; released: ${gap.reason}`;
      this.event('void', gap.number, gap.number, holder, reason, undefined);
      this.changes.set(gap.number, { number: gap.number, status: 'void', ...holder, reason, grant: gap.grant });
      voided++;
    }
    this.counters.voided += voided;
    // The range is the whole series as it ends (empty when nothing was ever issued).
    const issuedAny = this.hwm >= this.state.start;
    this.event('close', issuedAny ? this.state.start : null, issuedAny ? this.hwm : null, null, op.reason, undefined);
    this.closedAt = this.stamp;
    return { ok: true, kind: 'close', alreadyClosed: false, voided };
  }

  private confirm(op: ConfirmOp): Outcome {
    const n = op.sequenceNumber;
    const current = this.heldBy(op, 'cannot be confirmed');
    if ('ok' in current) return current;
    const holder = { siteId: current.siteId, partitionId: current.partitionId, invoiceType: current.invoiceType };
    const allocation = current.grant;
    if (current.status === 'confirmed') return { ok: true, kind: 'confirm', sequenceNumber: n, alreadyConfirmed: true, holder, allocation };
    this.event('confirm', n, n, holder, null, undefined, named(allocation));
    this.changes.set(n, { number: n, status: 'confirmed', ...holder, reason: null, grant: allocation, previous: current.previous });
    return { ok: true, kind: 'confirm', sequenceNumber: n, alreadyConfirmed: false, holder, allocation };
  }

  private allocate(op: AllocateOp): Outcome {
    if (op.requestId === undefined) return this.allocateNew(op);
    const fingerprint = requestFingerprint(op);
    const known = this.newRequests.get(op.requestId) ?? this.ctx.requests?.get(op.requestId);
    if (known) {
      if (known.fingerprint !== fingerprint) {
        return refuse(
          new IdempotencyKeyReusedError(`idempotency key "${op.requestId}" was used for a different request; use a new key`, {
            field: 'requestId',
          }),
        );
      }
      return this.replay(known);
    }
    if (op.replayOnly) {
      return refuse(new RequestKeyNotFoundError(`no record of idempotency key "${op.requestId}" in series "${this.state.series}"`));
    }
    const outcome = this.allocateNew(op);
    if (outcome.ok && outcome.kind === 'allocate') {
      const { numbers, refilled, released, allocation } = outcome;
      const series = this.state.series;
      this.newRequests.set(op.requestId, { key: op.requestId, series, fingerprint, numbers, refilled, released, committedAt: this.stamp, allocation });
    }
    return outcome;
  }

  /**
   * The answer to a retry: the original numbers, but only while the request still holds every
   * one of them. A number released, expired or handed to another allocation since is never
   * presented as the caller's: the retry is refused, naming what became of each.
   */
  private replay(rec: RequestRecord): Outcome {
    if (rec.series !== this.state.series) {
      return refuse(
        new RequestInOtherSeriesError(`idempotency key "${rec.key}" took its numbers in series "${rec.series}"`, { details: { series: rec.series } }),
      );
    }
    const { numbers, refilled, released, committedAt, allocation } = rec;
    const changed: { sequenceNumber: number; status: string; reason: string | null }[] = [];
    if (!released) {
      for (const n of numbers) {
        const cur = this.currentRecord(n);
        if (!cur) changed.push({ sequenceNumber: n, status: 'unknown', reason: null });
        else if (cur.status === 'open' || cur.status === 'void') changed.push({ sequenceNumber: n, status: cur.status, reason: cur.reason });
        else if (allocation && cur.grant !== 0 && !within(cur.grant, allocation)) changed.push({ sequenceNumber: n, status: 'reassigned', reason: null });
      }
    }
    if (changed.length > 0) {
      const gone = new Set(changed.map((c) => c.sequenceNumber));
      return refuse(
        new ReplayedNumbersChangedError(
          `the request with idempotency key "${rec.key}" no longer holds ${changed.length} of its ${numbers.length} number(s) (released, expired or reassigned since); use a new key for new numbers`,
          { field: 'requestId', details: { held: numbers.filter((n) => !gone.has(n)), changed } },
        ),
      );
    }
    return { ok: true, kind: 'allocate', numbers: [...numbers], refilled: [...refilled], released, replayOf: committedAt, allocation };
  }

  private allocateNew(op: AllocateOp): Outcome {
    if (this.closedAt !== null) {
      return refuse(
        new SeriesClosedError(
          `series "${this.state.series}" was closed at ${new Date(this.closedAt).toISOString()} (its period ended); it issues no more numbers`,
          { details: { series: this.state.series } },
        ),
      );
    }
    if (op.invoiceType === 'simulated' && !this.settings.simulatedEnabled) {
      return refuse(
        new InvoiceTypeDisabledError('invoice type "simulated" is switched off; turn it on in the settings to use it', {
          field: 'invoiceType',
          allowed: INVOICE_TYPES.filter((t) => t !== 'simulated'),
        }),
      );
    }
    const holder = { siteId: op.siteId, partitionId: op.partitionId, invoiceType: op.invoiceType };
    const refilled: number[] = [];
    const before = new Map<number, PreviousHold>();
    if (this.ctx.gapPolicy !== 'none') {
      while (refilled.length < op.count) {
        const gap = this.gaps.takeLowest();
        if (!gap) break;
        refilled.push(gap.number);
        const { grant, reason, siteId, partitionId, invoiceType } = gap;
        if (grant !== 0) before.set(gap.number, { grant, reason, siteId, partitionId, invoiceType });
      }
    }
    // One event per run of numbers; its seq names the allocation of those numbers.
    const runs: { first: number; last: number; grant: number }[] = [];
    for (const [first, last] of toRuns(refilled)) {
      const grant = this.event('refill', first, last, holder, null, op.requestId);
      runs.push({ first, last, grant });
      for (let n = first; n <= last; n++) this.changes.set(n, { number: n, status: 'refilled', ...holder, reason: null, grant, previous: before.get(n) });
    }
    const fromCounter = op.count - refilled.length;
    const numbers = refilled.slice();
    if (fromCounter > 0) {
      const first = this.hwm + 1;
      const last = this.hwm + fromCounter;
      this.hwm = last;
      const grant = this.event('issue', first, last, holder, null, op.requestId);
      runs.push({ first, last, grant });
      this.counterRuns.push({ first, last, ...holder, grant });
      for (let n = first; n <= last; n++) numbers.push(n);
    }
    this.counters.issued += op.count;
    this.counters.refilled += refilled.length;
    const t = this.totalsFor(holder);
    t.issued += op.count;
    t.refilled += refilled.length;

    if (op.invoiceType === 'suppressed') {
      for (const r of runs) this.releaseRun(r.first, r.last, holder, 'suppressed', r.grant);
    }
    const allocation = { first: runs[0]?.grant ?? 0, last: runs[runs.length - 1]?.grant ?? 0 };
    return { ok: true, kind: 'allocate', numbers, refilled, released: op.invoiceType === 'suppressed', allocation };
  }

  private release(op: ReleaseOp): Outcome {
    const n = op.sequenceNumber;
    const earlier = this.releasedFrom(op);
    if (earlier) return earlier;
    const current = this.heldBy(op, 'cannot be released again');
    if ('ok' in current) return current;
    if (op.ifUnchangedSince !== undefined && this.changedSince(n, op.ifUnchangedSince)) {
      return refuse(new NumberAlreadyReleasedError(`number ${n} changed after ${new Date(op.ifUnchangedSince).toISOString()}; left as it is`));
    }
    if (op.heldAtLeastMs !== undefined && !this.heldSince(n, this.now - op.heldAtLeastMs)) {
      // Marked: the sweep must look at the number again later (its clock ran ahead of the series').
      return refuse(new NumberAlreadyReleasedError(`number ${n} has not been held for ${op.heldAtLeastMs} ms yet; left as it is`, { details: { notYetDue: true } }));
    }
    if (current.status === 'confirmed') {
      return refuse(
        new NumberConfirmedError(`number ${n} is confirmed: its invoice is final; correct it with a credit note`, {
          field: 'sequenceNumber',
          details: { status: 'confirmed' },
        }),
      );
    }
    const holder = { siteId: current.siteId, partitionId: current.partitionId, invoiceType: current.invoiceType };
    const status = this.releaseRun(n, n, holder, op.reason, current.grant);
    return { ok: true, kind: 'release', sequenceNumber: n, status, previousHolder: holder, alreadyReleased: false, reason: op.reason, allocation: current.grant };
  }

  /**
   * A release naming the allocation that gave the number back already (its own earlier release
   * whose reply was lost, or an expiry): answered as done, nothing written.
   */
  private releasedFrom(op: ReleaseOp): Outcome | null {
    if (!op.allocation || op.ifUnchangedSince !== undefined) return null;
    const cur = this.currentRecord(op.sequenceNumber);
    if (!cur) return null;
    const done = { ok: true, kind: 'release', sequenceNumber: op.sequenceNumber, alreadyReleased: true } as const;
    const holderOf = (h: Holding) => ({ siteId: h.siteId, partitionId: h.partitionId, invoiceType: h.invoiceType });
    if ((cur.status === 'open' || cur.status === 'void') && cur.grant !== 0 && within(cur.grant, op.allocation)) {
      if (this.holderMismatch(op.sequenceNumber, cur, op)) return null;
      return { ...done, status: cur.status, reason: cur.reason ?? '', previousHolder: holderOf(cur), allocation: cur.grant };
    }
    // Given back, then refilled to another allocation: still this allocation's own release.
    const before = cur.previous;
    if (!before || !within(before.grant, op.allocation) || this.holderMismatch(op.sequenceNumber, before, op)) return null;
    return { ...done, status: 'open', reason: before.reason, previousHolder: holderOf(before), allocation: before.grant };
  }

  /**
   * The record of a number the op's site and partition hold (issued, refilled or confirmed), or
   * the refusal: never issued (404), released (409), held by another site or partition (409).
   */
  private heldBy(
    op: { sequenceNumber: number; siteId: string; partitionId: string; allocation?: AllocationRef | undefined },
    refused: string,
  ): Current | Refusal {
    const n = op.sequenceNumber;
    const current = this.currentRecord(n);
    if (!current) return this.notIssued(n);
    if (op.allocation && current.grant !== 0 && !within(current.grant, op.allocation)) {
      const now = current.status === 'open' || current.status === 'void' ? `is now a ${current.status} gap` : 'is held by another allocation';
      return refuse(
        new NumberReassignedError(
          `number ${n} no longer belongs to allocation ${formatAllocationRef(op.allocation)}: it was released or expired and ${now}; nothing was changed`,
          { field: 'allocation', details: { status: current.status === 'open' || current.status === 'void' ? current.status : 'reassigned' } },
        ),
      );
    }
    if (current.status === 'open' || current.status === 'void') {
      // The reason in the message too: it is what a shell or a log shows (expired vs released).
      const why = current.reason === null ? '' : `, reason "${current.reason}"`;
      return refuse(
        new NumberAlreadyReleasedError(`number ${n} is already released (${current.status} gap${why}) and ${refused}`, {
          field: 'sequenceNumber',
          details: { status: current.status, reason: current.reason },
        }),
      );
    }
    return this.holderMismatch(n, current, op) ?? current;
  }

  /** Whether the number changed in this batch or, per the store's record, after `since`. */
  private changedSince(n: number, since: number): boolean {
    if (this.changes.has(n) || n > this.state.hwm) return true;
    const stored = this.records.get(n);
    return stored === undefined || stored.changedAt > since;
  }

  /** Whether the number's record is stored and unchanged since `time` (not changed in this batch). */
  private heldSince(n: number, time: number): boolean {
    if (this.changes.has(n) || n > this.state.hwm) return false;
    const stored = this.records.get(n);
    return stored !== undefined && stored.changedAt <= time;
  }

  private notIssued(n: number): Refusal {
    return refuse(
      new NumberNotIssuedError(`number ${n} was never issued in series "${this.state.series}"`, {
        field: 'sequenceNumber',
        details: { series: this.state.series, highWaterMark: this.hwm },
      }),
    );
  }

  /** A refusal when the number is held by another site or partition than the op names. */
  private holderMismatch(n: number, current: { siteId: string; partitionId: string }, op: { siteId: string; partitionId: string }): Refusal | null {
    const field =
      current.siteId !== op.siteId ? 'siteId' : current.partitionId !== op.partitionId ? 'partitionId' : null;
    if (!field) return null;
    return refuse(
      new HolderMismatchError(
        `number ${n} is held by ${current.siteId}/${current.partitionId}, not ${op.siteId}/${op.partitionId}`,
        { field, details: { heldBy: { siteId: current.siteId, partitionId: current.partitionId } } },
      ),
    );
  }

  /**
   * The legacy range as one `import` event (an issue by the legacy system), then each run of
   * known gaps released and made void at once, naming the import as their allocation: the trail
   * accounts for every number up to `last`, and the counter goes on after it.
   */
  private importLegacy(op: ImportOp): Outcome {
    const s = this.state;
    if (this.hwm !== s.start - 1) {
      return refuse(new ValidationError(`series ${s.series} has issued numbers already (up to ${this.hwm}): an import starts a series that has issued none`, { field: 'series' }));
    }
    if (!Number.isSafeInteger(op.last) || op.last < s.start) {
      return refuse(new ValidationError(`the last legacy number must be a whole number from the series start ${s.start} on`, { field: 'last' }));
    }
    const gaps = [...op.gaps].sort((a, b) => a.number - b.number);
    const bad = gaps.find((g, i) => !Number.isSafeInteger(g.number) || g.number < s.start || g.number > op.last || g.number === gaps[i - 1]?.number);
    if (bad) return refuse(new ValidationError(`legacy gap ${bad.number} is outside ${s.start}..${op.last} or listed twice`, { field: 'gaps' }));
    const holder = { ...LEGACY_HOLDER };
    const grant = this.event('import', s.start, op.last, holder, op.reason, undefined);
    const count = op.last - s.start + 1;
    this.hwm = op.last;
    this.counters.issued += count;
    this.totalsFor(holder).issued += count;
    for (let i = 0; i < gaps.length; ) {
      const first = gaps[i] as LegacyGap;
      let last = first;
      while (gaps[i + 1]?.number === last.number + 1 && gaps[i + 1]?.reason === first.reason) last = gaps[++i] as LegacyGap;
      i++;
      const reason = `legacy gap: ${first.reason}`;
      this.event('release', first.number, last.number, holder, reason, undefined, grant);
      this.event('void', first.number, last.number, holder, `imported as a gap of the legacy numbering; released: ${reason}`, undefined, grant);
      const n = last.number - first.number + 1;
      this.counters.released += n;
      this.counters.voided += n;
      this.totalsFor(holder).released += n;
      for (let k = first.number; k <= last.number; k++) this.changes.set(k, { number: k, status: 'void', ...holder, reason, grant });
    }
    return { ok: true, kind: 'numbering' };
  }

  private setting(op: SettingOp): Outcome {
    this.settings[op.key] = op.value;
    this.settingsChanged = { ...(this.settingsChanged ?? {}), [op.key]: op.value };
    this.event('setting', null, null, null, `${op.key}=${String(op.value)}: ${op.reason}`, undefined);
    return { ok: true, kind: 'setting', settings: { ...this.settings } };
  }

  /** Releases held numbers first..last: open gaps with recovery on, void at once without it. */
  private releaseRun(first: number, last: number, holder: Holding, reason: string, grant: number): 'open' | 'void' {
    this.event('release', first, last, holder, reason, undefined, named(grant));
    const voidBecause =
      this.closedAt !== null
        ? 'series closed: its period ended'
        : this.ctx.gapPolicy === 'none'
        ? 'gap recovery disabled'
        : this.ctx.gapPolicy === 'chronological' && this.highestHeldAbove(last)
          ? 'chronological numbering: a higher number is already issued'
          : null;
    const status = voidBecause ? 'void' : 'open';
    if (voidBecause) this.event('void', first, last, holder, `${voidBecause}; released: ${reason}`, undefined, named(grant));
    const count = last - first + 1;
    this.counters.released += count;
    if (status === 'void') this.counters.voided += count;
    this.totalsFor(holder).released += count;
    for (let n = first; n <= last; n++) {
      this.changes.set(n, { number: n, status, ...holder, reason, grant });
      if (status === 'open') this.gaps.insert({ number: n, reason, ...holder, releasedAt: this.stamp, grant });
    }
    return status;
  }

  /**
   * Whether a number above `n` is held (issued or refilled, not an open gap) at this point of the
   * batch: walks down from the HWM over open gaps only, so it stays short.
   */
  private highestHeldAbove(n: number): boolean {
    for (let m = this.hwm; m > n; m--) {
      if (!this.gaps.has(m)) return true;
    }
    return false;
  }

  /** The number's state as of this point of the batch, or null if it was never issued. */
  private currentRecord(n: number): Current | null {
    if (!Number.isSafeInteger(n) || n < this.state.start || n > this.hwm) return null;
    const changed = this.changes.get(n);
    if (changed) return changed;
    const gap = this.gaps.get(n);
    if (gap) return { status: 'open', siteId: gap.siteId, partitionId: gap.partitionId, invoiceType: gap.invoiceType, reason: gap.reason, grant: gap.grant };
    if (n > this.state.hwm) {
      const run = this.counterRuns.find((r) => r.first <= n && n <= r.last);
      if (!run) throw new Error(`planner: number ${n} above the stored HWM but not issued in this batch`);
      return { status: 'issued', siteId: run.siteId, partitionId: run.partitionId, invoiceType: run.invoiceType, reason: null, grant: run.grant };
    }
    const record = this.records.get(n);
    if (!record) throw new Error(`planner: no record supplied for number ${n} of series ${this.state.series}`);
    return record;
  }

  private totalsFor(h: { siteId: string; partitionId: string; invoiceType: InvoiceType }): TotalsDelta {
    const key = `${h.siteId}\u0000${h.partitionId}\u0000${h.invoiceType}`;
    let t = this.totals.get(key);
    if (!t) {
      t = { siteId: h.siteId, partitionId: h.partitionId, invoiceType: h.invoiceType, issued: 0, refilled: 0, released: 0 };
      this.totals.set(key, t);
    }
    return t;
  }

  /** Appends a sealed event to the batch; answers its seq. */
  private event(
    type: AuditEventType,
    first: number | null,
    last: number | null,
    holder: Holding | null,
    reason: string | null,
    requestId: string | undefined,
    allocation: number | null = null,
  ): number {
    const e = sealEvent({
      series: this.state.series,
      seq: ++this.seq,
      ts: this.stamp,
      type,
      first,
      last,
      siteId: holder?.siteId ?? null,
      partitionId: holder?.partitionId ?? null,
      invoiceType: holder?.invoiceType ?? null,
      reason,
      requestId: requestId ?? null,
      batchId: this.ctx.batchId,
      node: this.ctx.node,
      allocation,
      actor: this.actor,
      prevHash: this.lastHash,
    });
    this.lastHash = e.hash;
    this.events.push(e);
    return e.seq;
  }
}

/** What every op on an archived series answers: where its numbers went. */
export function archivedError(series: string, mark: ArchiveMark): SeriesArchivedError {
  return new SeriesArchivedError(
    `series "${series}" was archived to ${mark.file} at ${new Date(mark.archivedAt).toISOString()} (sha256 ${mark.sha256}, events 1..${mark.headSeq}): its numbers are no longer in this store`,
    { details: { series, archive: mark } },
  );
}

function refuse(error: SeqdError): Refusal {
  return { ok: false, error };
}
