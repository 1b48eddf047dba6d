import { counterProblems, missingNumberProblem, numberProblem, requestProblem, totalsProblems } from '../domain/derived-diff.js';
import { DerivedReplay } from '../domain/derived-state.js';
import type { AuditEvent, RequestRecord, SeriesState } from '../domain/types.js';
import type { DerivedReport } from '../domain/verify-report.js';
import type { SequenceStore } from '../storage/sequence-store.js';

/** Disagreements listed in a report; the rest are only counted. */
const PROBLEMS_SHOWN = 50;
const NUMBERS_PAGE = 1000;
const EVENTS_PAGE = 5000;
const KEYS_PER_LOOKUP = 250;
const STATUSES = ['open', 'void', 'refilled', 'confirmed'] as const;

/**
 * Keys committed this close to the window's start are not checked: their record may be swept
 * (or the key used again) while verify runs, which is no disagreement.
 */
const KEY_EDGE_MARGIN_MS = 2 * 60_000;

/**
 * A record of the key written this much less than a window after the trail's request is no later
 * use of it (that needs the first record to expire); slack for instance clocks apart (at most
 * half the window, for short windows).
 */
const LATER_USE_SLACK_MS = 10 * 60_000;

export interface DerivedVerificationOptions {
  readonly store: SequenceStore;
  readonly series: string;
  /** How long idempotency records count (ms), as the service's. */
  readonly requestWindowMs: number;
  /** The service's clock (tests inject one). */
  readonly now: () => number;
  /** The last event of the stored state the trail is replayed to. */
  readonly headSeq: number;
}

/**
 * Recomputes a series' derived tables from its trail and compares them with the store's. Fed the
 * verified events in order (`push`), it checks keyed requests page by page (their records never
 * change once written, so memory holds one page of them) and the rest at `finish`.
 *
 * The tables are read live, after the head the trail was replayed to: what commits meanwhile is
 * read from the trail too ({@link LaterEvents}) and a number it touched is not compared, totals
 * may lie between the two. A commit while verify runs is never reported.
 */
export class DerivedVerification {
  private readonly replay: DerivedReplay;
  private readonly problems: string[] = [];
  private problemCount = 0;
  private requestsChecked = 0;

  constructor(private readonly o: DerivedVerificationOptions) {
    // The window only moves on: a request before its start now is before it at every check.
    this.replay = new DerivedReplay(o.series, this.clock() - o.requestWindowMs);
  }

  push(e: AuditEvent): void {
    this.replay.push(e);
  }

  /** Compares the records of the keyed requests completed so far; call between pages of events. */
  async checkRequests(): Promise<void> {
    const done = this.replay.takeRequests();
    if (done.length === 0) return;
    const now = this.clock();
    const from = now - this.o.requestWindowMs + KEY_EDGE_MARGIN_MS;
    const due = done.filter((r) => r.committedAt >= from);
    for (let i = 0; i < due.length; i += KEYS_PER_LOOKUP) {
      const page = due.slice(i, i + KEYS_PER_LOOKUP);
      const found = await this.o.store.lookupRequests(this.o.series, page.map((r) => r.key), now - this.o.requestWindowMs);
      for (const r of page) this.checkRequest(r, found.get(r.key));
    }
  }

  /** Ends the replay and compares the tables; `state` is the stored state read before the replay. */
  async finish(state: SeriesState): Promise<DerivedReport> {
    this.replay.finish();
    await this.checkRequests();
    const later = new LaterEvents(this.o.store, this.o.series, this.o.headSeq);
    for (const p of counterProblems(state.counters, this.replay.counters)) this.add(p);
    const totals = await this.o.store.totals(this.o.series);
    await later.catchUp();
    const t = totalsProblems(totals, this.replay.totals, later.replay.totals);
    for (const p of t.problems) this.add(p);
    const numbersChecked = await this.checkNumbers(later);
    return {
      valid: this.problemCount === 0,
      checked: true,
      numbersChecked,
      totalsChecked: t.checked,
      requestsChecked: this.requestsChecked,
      problemCount: this.problemCount,
      problems: this.problems,
    };
  }

  /** The report when the trail itself is invalid: nothing was recomputed. */
  static notChecked(why: string): DerivedReport {
    return { valid: false, checked: false, numbersChecked: 0, totalsChecked: 0, requestsChecked: 0, problemCount: 1, problems: [why] };
  }

  /**
   * The store sweeps keys by the machine's clock, the planner looks them up by the service's
   * (tests inject one): only a record both still count is certain to be there.
   */
  private clock(): number {
    return Math.max(Date.now(), this.o.now());
  }

  private checkRequest(expected: RequestRecord, found: RequestRecord | undefined): void {
    // A record written about a window later is the key used again after it expired.
    const window = this.o.requestWindowMs;
    if (found && found.committedAt > expected.committedAt + window - Math.min(LATER_USE_SLACK_MS, window / 2)) return;
    this.requestsChecked++;
    const problem = requestProblem(expected, found);
    if (problem) this.add(problem);
  }

  /**
   * Pages through the stored records ascending; the trail's record of each is taken out of the
   * replay, so what remains at the end has no stored record.
   */
  private async checkNumbers(later: LaterEvents): Promise<number> {
    let checked = 0;
    let after: number | undefined;
    for (;;) {
      const page = await this.o.store.listNumbers({ series: this.o.series, statuses: STATUSES, limit: NUMBERS_PAGE, afterNumber: after });
      // Read after the page: every commit the page may reflect is then known.
      await later.catchUp();
      for (const stored of page) {
        const replayed = this.replay.numbers.get(stored.number);
        this.replay.numbers.delete(stored.number);
        checked++;
        if (later.touched(stored.number)) continue;
        const problem = numberProblem(stored, replayed);
        if (problem) this.add(problem);
      }
      const last = page[page.length - 1];
      if (page.length < NUMBERS_PAGE || !last) break;
      after = last.number;
      await new Promise((r) => setImmediate(r));
    }
    for (const [n, replayed] of [...this.replay.numbers].sort(([a], [b]) => a - b)) {
      checked++;
      if (!later.touched(n)) this.add(missingNumberProblem(n, replayed));
    }
    return checked;
  }

  private add(problem: string): void {
    this.problemCount++;
    if (this.problems.length < PROBLEMS_SHOWN) this.problems.push(problem);
  }
}

/** Events committed after the replayed head, read as verify goes: what they change is not compared. */
class LaterEvents {
  readonly replay: DerivedReplay;

  constructor(
    private readonly store: SequenceStore,
    private readonly series: string,
    private seq: number,
  ) {
    this.replay = new DerivedReplay(series, Infinity);
  }

  /** Reads every event committed since the last call. */
  async catchUp(): Promise<void> {
    for (;;) {
      const events = await this.store.readEvents(this.series, this.seq, EVENTS_PAGE);
      for (const e of events) this.replay.push(e);
      const last = events[events.length - 1];
      if (!last) return;
      // Only an empty page ends the trail: a store may answer fewer events than asked.
      this.seq = last.seq;
    }
  }

  touched(n: number): boolean {
    return this.replay.numbers.has(n);
  }
}
