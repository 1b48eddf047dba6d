import { requestFingerprint } from './planner.js';
import type { AuditEvent, InvoiceType, RequestRecord, SeriesCounters, TotalsDelta } from './types.js';

/**
 * What the trail says one number's stored record holds, for a number that left the plain
 * "issued" state: exactly what the planner wrote with the event (its `changes`).
 */
export interface ReplayedNumber {
  readonly status: 'open' | 'void' | 'refilled' | 'confirmed';
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  readonly reason: string | null;
  /**
   * The other reason the record may hold when the trail cannot tell which write made it (a void
   * right after a release, both naming no allocation: see {@link DerivedReplay.push}); else absent.
   */
  readonly otherReason?: string | null | undefined;
  /** Seq of the issue or refill event that gave the number out; 0 when the trail does not say. */
  readonly grant: number;
}

/** Totals key, as the planner groups them: site × partition × invoice type. */
export const totalsKey = (t: { siteId: string; partitionId: string; invoiceType: string }): string =>
  `${t.siteId}/${t.partitionId}/${t.invoiceType}`;

/** A request being gathered: its grant events are consecutive (see {@link DerivedReplay.push}). */
interface RequestDraft {
  readonly key: string;
  readonly batchId: string;
  readonly firstSeq: number;
  lastSeq: number;
  readonly committedAt: number;
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  readonly refilled: number[];
  readonly counter: number[];
}

/**
 * Replays a series' audit events into the tables a store derives from them: the records of
 * numbers that left the plain "issued" state, the totals per site × partition × type, the series
 * counters and the idempotency records of keyed requests. Pure: no I/O, no clock.
 *
 * Feed it the events in seq order, only those the chain verifier accepted (it trusts their
 * ranges and allocations). Memory: one entry per number that is not plainly issued (as the
 * verifier), one row per totals key, and the requests (from `requestsFrom` on) completed since
 * the last {@link takeRequests}.
 */
export class DerivedReplay {
  readonly numbers = new Map<number, ReplayedNumber>();
  readonly totals = new Map<string, TotalsDelta>();
  readonly counters: SeriesCounters = { issued: 0, refilled: 0, released: 0, voided: 0 };
  private readonly done: RequestRecord[] = [];
  private draft: RequestDraft | null = null;
  private previous: AuditEvent | null = null;

  /**
   * `requestsFrom` (epoch ms): requests committed earlier are not rebuilt (their records are past
   * the idempotency window anyway); Infinity: none are.
   */
  constructor(
    private readonly series: string,
    private readonly requestsFrom = -Infinity,
  ) {}

  push(e: AuditEvent): void {
    this.gather(e);
    const n = e.first === null || e.last === null ? 0 : e.last - e.first + 1;
    switch (e.type) {
      // Numbers the legacy system issued count as issued, to its holder.
      case 'import':
      case 'issue':
        this.counters.issued += n;
        this.totalsOf(e).issued += n;
        break;
      case 'refill':
        this.counters.issued += n;
        this.counters.refilled += n;
        this.totalsOf(e).issued += n;
        this.totalsOf(e).refilled += n;
        this.each(e, () => ({ ...holderOf(e), status: 'refilled', reason: null, grant: e.seq }));
        break;
      case 'release':
        this.counters.released += n;
        this.totalsOf(e).released += n;
        // The planner writes the allocation it released from on the event (null: grant 0).
        this.each(e, () => ({ ...holderOf(e), status: 'open', reason: e.reason, grant: e.allocation ?? 0 }));
        break;
      case 'void':
        this.counters.voided += n;
        this.each(e, (current) => this.voided(e, current));
        break;
      case 'confirm':
        this.each(e, () => ({ ...holderOf(e), status: 'confirmed', reason: null, grant: e.allocation ?? 0 }));
        break;
      case 'setting':
      case 'numbering':
      case 'migrate':
      case 'close':
      case 'archive':
        break;
    }
    this.previous = e;
  }

  /** Ends the replay: the last request gathered is complete. */
  finish(): void {
    this.flush();
  }

  /** Requests completed since the last call (their records as the planner wrote them), oldest first. */
  takeRequests(): RequestRecord[] {
    return this.done.splice(0, this.done.length);
  }

  /**
   * A void comes from a release that voids at once (gap policy, chronological order, closed
   * series): the record keeps the release's reason and the event follows its release, naming the
   * same allocation. Or from a close voiding an open gap: the record takes the void's reason
   * (`<close reason>; released: <release reason>`) and the event names no allocation. When both
   * name none (numbers from before allocations were tracked), either reason is accepted.
   */
  private voided(e: AuditEvent, current: ReplayedNumber | undefined): ReplayedNumber {
    const p = this.previous;
    const afterItsRelease =
      p !== null && p.type === 'release' && p.seq === e.seq - 1 && p.batchId === e.batchId && p.first === e.first && p.last === e.last && p.allocation === e.allocation;
    const grant = e.allocation ?? current?.grant ?? 0;
    if (!afterItsRelease) return { ...holderOf(e), status: 'void', reason: e.reason, grant };
    return { ...holderOf(e), status: 'void', reason: p.reason, grant, ...(e.allocation === null ? { otherReason: e.reason } : {}) };
  }

  private each(e: AuditEvent, next: (current: ReplayedNumber | undefined) => ReplayedNumber): void {
    if (e.first === null || e.last === null) return;
    for (let n = e.first; n <= e.last; n++) this.numbers.set(n, next(this.numbers.get(n)));
  }

  private totalsOf(e: AuditEvent): TotalsDelta {
    const h = holderOf(e);
    const key = totalsKey(h);
    let t = this.totals.get(key);
    if (!t) {
      t = { ...h, issued: 0, refilled: 0, released: 0 };
      this.totals.set(key, t);
    }
    return t;
  }

  /**
   * The planner gives a keyed request its numbers in consecutive events of one batch (refills,
   * then the counter range), all carrying the key; anything else ends the request.
   */
  private gather(e: AuditEvent): void {
    const grant = e.type === 'issue' || e.type === 'refill';
    if (!grant || e.requestId === null || e.first === null || e.last === null || e.ts < this.requestsFrom) {
      this.flush();
      return;
    }
    const d = this.draft;
    if (!d || d.key !== e.requestId || d.batchId !== e.batchId || d.lastSeq !== e.seq - 1) {
      this.flush();
      this.draft = { key: e.requestId, batchId: e.batchId, firstSeq: e.seq, lastSeq: e.seq, committedAt: e.ts, ...holderOf(e), refilled: [], counter: [] };
    } else {
      d.lastSeq = e.seq;
    }
    const into = e.type === 'refill' ? this.draft?.refilled : this.draft?.counter;
    for (let n = e.first; n <= e.last; n++) into?.push(n);
  }

  private flush(): void {
    const d = this.draft;
    if (!d) return;
    this.draft = null;
    const numbers = [...d.refilled, ...d.counter];
    const { siteId, partitionId, invoiceType } = d;
    this.done.push({
      key: d.key,
      series: this.series,
      fingerprint: requestFingerprint({ kind: 'allocate', siteId, partitionId, invoiceType, count: numbers.length }),
      numbers,
      refilled: d.refilled,
      released: invoiceType === 'suppressed',
      committedAt: d.committedAt,
      allocation: { first: d.firstSeq, last: d.lastSeq },
    });
  }
}

/** The holder an event names (every event acting on numbers names one). */
function holderOf(e: AuditEvent): { siteId: string; partitionId: string; invoiceType: InvoiceType } {
  return { siteId: e.siteId ?? '', partitionId: e.partitionId ?? '', invoiceType: e.invoiceType ?? 'on-cycle' };
}
