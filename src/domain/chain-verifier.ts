import { GENESIS_HASH, hashEvent } from './audit-chain.js';
import type { ArchiveMark, AuditEvent, SeriesState } from './types.js';

export interface InvalidEvent {
  readonly seq: number;
  readonly type: string;
  readonly problem: string;
}

/** What the replay of the chain finds (the whole verify answer is `VerifyReport`, verify-report.ts). */
export interface ChainReport {
  readonly series: string;
  readonly valid: boolean;
  readonly eventsChecked: number;
  readonly firstInvalidEvent: InvalidEvent | null;
  readonly continuity: {
    readonly valid: boolean;
    readonly start: number;
    readonly highWaterMark: number;
    readonly numbersChecked: number;
    readonly held: number;
    readonly openGaps: number;
    readonly void: number;
    readonly problem: string | null;
  };
}

/**
 * Replays a series' audit events in order, recomputing the hash chain and the state of every
 * number from the series start to the HWM, then compares the result with the stored state.
 * Memory grows with open and void numbers only: a number absent from the map is held.
 */
export class ChainVerifier {
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private hwm: number;
  private checked = 0;
  private readonly released = new Map<number, 'open' | 'void'>();
  /** Confirmed (final) numbers: they may never be released. */
  private readonly confirmed = new Set<number>();
  private voidCount = 0;
  /**
   * Issue events in order, as their first number and seq: counter ranges are contiguous, so the
   * allocation of a counter number is found by bisection (16 bytes per issue event).
   */
  private readonly issueFirst: number[] = [];
  private readonly issueSeq: number[] = [];
  /** Allocation (refill event seq) of numbers refilled at least once, their latest refill. */
  private readonly refillGrant = new Map<number, number>();
  /** Seq of the `close` event, once seen: nothing may be issued or left open after it. */
  private closedBy: number | null = null;
  /** Seq of the `archive` event, once seen: the trail ends there. */
  private archivedBy: number | null = null;
  private invalid: InvalidEvent | null = null;

  /**
   * `archived`: the series' state says its events up to the mark's head went to an archive file
   * (see `ArchiveMark`): the replay starts after that head, from the state's HWM and void count
   * (`resumed`); the `archive` event must link to the head and name the whole range.
   */
  constructor(
    private readonly series: string,
    private readonly start: number,
    archived?: { readonly mark: ArchiveMark; readonly hwm: number; readonly voided: number },
  ) {
    this.hwm = start - 1;
    if (archived) {
      this.expectedSeq = archived.mark.headSeq + 1;
      this.prevHash = archived.mark.headHash;
      this.hwm = archived.hwm;
      this.voidCount = archived.voided;
      // Only a closed series is archived: the archive holds its close event.
      this.closedBy = archived.mark.headSeq;
    }
  }

  /** True while the chain is valid so far; stop feeding events once it returns false. */
  get ok(): boolean {
    return this.invalid === null;
  }

  push(e: AuditEvent): boolean {
    if (this.invalid) return false;
    this.checked++;
    const problem = this.check(e);
    if (problem) this.invalid = { seq: e.seq, type: e.type, problem };
    this.expectedSeq = e.seq + 1;
    this.prevHash = e.hash;
    return this.invalid === null;
  }

  finish(stored: SeriesState): ChainReport {
    let problem: string | null = null;
    if (!this.invalid) {
      const storedOpen = new Set(stored.openGaps.map((g) => g.number));
      const replayOpen = [...this.released].filter(([, s]) => s === 'open').map(([n]) => n);
      if (stored.eventSeq !== this.expectedSeq - 1) {
        problem = `stored state ends at event ${stored.eventSeq}, the trail at ${this.expectedSeq - 1} (events missing)`;
      } else if (stored.lastHash !== this.prevHash && stored.eventSeq > 0) {
        problem = 'stored last hash differs from the hash of the last event';
      } else if (stored.hwm !== this.hwm) {
        problem = `stored high-water mark ${stored.hwm} differs from the trail's ${this.hwm}`;
      } else if (storedOpen.size !== replayOpen.length || replayOpen.some((n) => !storedOpen.has(n))) {
        problem = 'stored open gaps differ from the gaps the trail leaves open';
      } else if ((stored.closedAt !== null) !== (this.closedBy !== null)) {
        problem = stored.closedAt !== null ? 'stored state is closed but the trail has no close event' : 'the trail closes the series but the stored state is open';
      } else if ((stored.archived ?? null) !== null !== (this.archivedBy !== null)) {
        problem = (stored.archived ?? null) !== null ? 'stored state is archived but the trail has no archive event' : 'the trail archives the series but the stored state does not say so';
      } else if (this.closedBy !== null && replayOpen.length > 0) {
        problem = `the series is closed but number ${replayOpen[0]} is still an open gap`;
      }
    }
    const openCount = [...this.released.values()].filter((s) => s === 'open').length;
    const numbersChecked = Math.max(0, this.hwm - this.start + 1);
    const continuityValid = this.invalid === null && problem === null;
    return {
      series: this.series,
      valid: continuityValid,
      eventsChecked: this.checked,
      firstInvalidEvent: this.invalid,
      continuity: {
        valid: continuityValid,
        start: this.start,
        highWaterMark: this.hwm,
        numbersChecked,
        held: numbersChecked - openCount - this.voidCount,
        openGaps: openCount,
        void: this.voidCount,
        problem: this.invalid ? `event ${this.invalid.seq}: ${this.invalid.problem}` : problem,
      },
    };
  }

  private check(e: AuditEvent): string | null {
    if (e.series !== this.series) return `belongs to series "${e.series}"`;
    if (e.seq !== this.expectedSeq) return `sequence ${e.seq} where ${this.expectedSeq} was expected (event missing or inserted)`;
    if (e.prevHash !== this.prevHash) return 'previous-hash link does not match the preceding event';
    if (hashEvent(e) !== e.hash) return 'hash does not match the event content (edited)';
    if (e.type === 'setting' || e.type === 'numbering' || e.type === 'migrate') return null;
    if (this.archivedBy !== null) return `${e.type} after the series was archived by event ${this.archivedBy}`;
    if (e.type === 'close') return this.close(e);
    if (e.type === 'archive') return this.archive(e);
    if (this.closedBy !== null && (e.type === 'issue' || e.type === 'refill')) {
      return `${e.type} after the series was closed by event ${this.closedBy}`;
    }
    if (e.first === null || e.last === null || e.last < e.first) return 'number range missing or reversed';
    switch (e.type) {
      case 'import':
      case 'issue':
        if (e.first !== this.hwm + 1) {
          return `counter range starts at ${e.first} but the next counter number was ${this.hwm + 1}`;
        }
        this.hwm = e.last;
        this.issueFirst.push(e.first);
        this.issueSeq.push(e.seq);
        return null;
      case 'refill':
        return this.eachNumber(e, (n) => {
          if (this.released.get(n) !== 'open') return `refills ${n}, which is not an open gap`;
          this.released.delete(n);
          this.refillGrant.set(n, e.seq);
          return null;
        });
      case 'release':
        return this.eachNumber(e, (n) => {
          if (n < this.start || n > this.hwm) return `releases ${n}, which was never issued`;
          if (this.released.has(n)) return `releases ${n}, which is already released`;
          const wrong = this.otherAllocation(e, n);
          if (wrong) return wrong;
          if (this.confirmed.has(n)) return `releases ${n}, which is confirmed (final)`;
          this.released.set(n, 'open');
          return null;
        });
      case 'void':
        return this.eachNumber(e, (n) => {
          if (this.released.get(n) !== 'open') return `voids ${n}, which is not an open gap`;
          const wrong = this.otherAllocation(e, n);
          if (wrong) return wrong;
          this.released.set(n, 'void');
          this.voidCount++;
          return null;
        });
      case 'confirm':
        return this.eachNumber(e, (n) => {
          if (n < this.start || n > this.hwm) return `confirms ${n}, which was never issued`;
          if (this.released.has(n)) return `confirms ${n}, which is released`;
          if (this.confirmed.has(n)) return `confirms ${n} a second time`;
          const wrong = this.otherAllocation(e, n);
          if (wrong) return wrong;
          this.confirmed.add(n);
          return null;
        });
    }
  }

  /**
   * A release, confirm or void that names an allocation must name the one holding the number
   * (the last issue or refill of it): one by anyone else acted on someone else's invoice.
   * Events written before allocations were tracked name none and are not checked.
   */
  private otherAllocation(e: AuditEvent, n: number): string | null {
    if (e.allocation === null) return null;
    const holder = this.allocationOf(n);
    return holder === e.allocation ? null : `${e.type} of ${n} by allocation ${e.allocation}, but ${n} belongs to allocation ${holder}`;
  }

  /** Seq of the issue or refill event that last gave `n` out. */
  private allocationOf(n: number): number {
    const refill = this.refillGrant.get(n);
    if (refill !== undefined) return refill;
    let lo = 0;
    let hi = this.issueFirst.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.issueFirst[mid] ?? Infinity) <= n) lo = mid;
      else hi = mid - 1;
    }
    return this.issueSeq[lo] ?? 0;
  }

  private archive(e: AuditEvent): string | null {
    if (this.closedBy === null) return 'archives a series that was never closed';
    const range = this.hwm >= this.start ? `${this.start}..${this.hwm}` : 'none';
    const claimed = e.first === null ? 'none' : `${e.first}..${e.last ?? ''}`;
    if (claimed !== range) return `archive names numbers ${claimed} but the series holds ${range}`;
    this.archivedBy = e.seq;
    return null;
  }

  private close(e: AuditEvent): string | null {
    if (this.closedBy !== null) return `closes the series a second time (first closed by event ${this.closedBy})`;
    const range = this.hwm >= this.start ? `${this.start}..${this.hwm}` : 'none';
    const claimed = e.first === null ? 'none' : `${e.first}..${e.last ?? ''}`;
    if (claimed !== range) return `close names numbers ${claimed} but the series holds ${range}`;
    const open = [...this.released].find(([, s]) => s === 'open');
    if (open) return `closes the series while number ${open[0]} is an open gap`;
    this.closedBy = e.seq;
    return null;
  }

  private eachNumber(e: AuditEvent, step: (n: number) => string | null): string | null {
    for (let n = e.first ?? 0; n <= (e.last ?? -1); n++) {
      const problem = step(n);
      if (problem) return problem;
    }
    return null;
  }
}
