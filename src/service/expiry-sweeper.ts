import { SeqdError } from '../domain/errors/index.js';
import type { NumberRecord } from '../domain/types.js';
import type { SequenceStore } from '../storage/sequence-store.js';

export interface ExpirySweeperOptions {
  readonly store: SequenceStore;
  /** The series to sweep (all numbering series; listed again at every pass). */
  readonly series: () => Promise<readonly string[]>;
  /** Numbers neither confirmed nor released this long after being handed out are released. */
  readonly timeoutMs: number;
  /**
   * Releases these numbers with reason `expired` (if unchanged since `cutoff`); answers how many
   * were, and those not due yet by the series' clock (they are looked at again).
   */
  readonly release: (series: string, records: readonly NumberRecord[], cutoff: number) => Promise<{ released: number; notYetDue: readonly NumberRecord[] }>;
  readonly now?: () => number;
  readonly intervalMs?: number;
  /** Most numbers released per pass, so one pass never holds up allocations for long. */
  readonly maxPerSweep?: number;
  /** How long one pass may read the trail (ms; default 250). */
  readonly scanBudgetMs?: number;
  readonly onError?: (error: unknown) => void;
  /**
   * How far ahead `expiring` looks: numbers that will expire within this time unless confirmed
   * or released (default: the timeout's half, at most 15 minutes).
   */
  readonly lookAheadMs?: number;
}

const PAGE = 1000;
/** Most numbers one look-ahead checks per series: the oldest first, those closest to expiry. */
const LOOK_AHEAD_MAX = 2000;

/**
 * Releases reservations that timed out: numbers handed out (issue or refill) longer than the
 * timeout ago that are neither confirmed nor released. Walks the audit trail forward from a
 * cursor, so each sweep only reads what is new. Every instance may run one: the releases go
 * through the normal commit (compare-and-swap), a number already released is refused, and a
 * number that changed after the cutoff is left alone, so each expires exactly once.
 */
export class ExpirySweeper {
  /** Per series: seq of the last audit event whose numbers were dealt with. */
  private readonly cursors = new Map<string, number>();
  /**
   * Per series: numbers handed out, neither confirmed nor released, that expire within the
   * look-ahead (counted among the next 2,000 due, so a lower bound under heavy traffic).
   */
  readonly expiring = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private stopping = false;
  private readonly now: () => number;

  constructor(private readonly o: ExpirySweeperOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    const every = this.o.intervalMs ?? Math.max(250, Math.min(5000, this.o.timeoutMs / 4));
    this.timer = setInterval(() => {
      this.sweep().catch((error: unknown) => this.o.onError?.(error));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass; answers how many numbers it released. Overlapping calls share one pass. */
  sweep(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<number> {
    let released = 0;
    const list = await this.o.series();
    for (const gone of [...this.expiring.keys()].filter((name) => !list.includes(name))) this.expiring.delete(gone);
    for (const series of list) {
      if (this.stopping) break;
      try {
        released += await this.sweepSeries(series);
      } catch (error) {
        // A series stopped for itself (a state check) must not hold up the others' releases; a
        // store that cannot commit (no quorum, maintenance) ends the pass: every series would
        // wait out the same retries, and a shutdown behind them.
        if (!(error instanceof SeqdError) || error.retryable) throw error;
        this.o.onError?.(error);
      }
    }
    return released;
  }

  /**
   * Reads the trail from the series' cursor and looks up, page by page, the numbers handed out
   * before the cutoff. Confirmed and released ones are passed over without counting against the
   * limit, so after a restart (cursor 0) a long trail of finished invoices is crossed in a few
   * passes; a pass stops at `maxPerSweep` due numbers or after `scanBudgetMs`.
   */
  private async sweepSeries(series: string): Promise<number> {
    const cutoff = this.now() - this.o.timeoutMs;
    const max = this.o.maxPerSweep ?? 1000;
    const until = performance.now() + (this.o.scanBudgetMs ?? 250);
    let cursor = this.cursors.get(series) ?? 0;
    const due: NumberRecord[] = [];
    for (;;) {
      const events = await this.o.store.readEvents(series, cursor, PAGE);
      const candidates: number[] = [];
      let upTo = cursor;
      let reachedCutoff = false;
      for (const e of events) {
        if (e.ts > cutoff) {
          reachedCutoff = true;
          break;
        }
        if ((e.type === 'issue' || e.type === 'refill') && e.first !== null && e.last !== null) {
          for (let n = e.first; n <= e.last; n++) candidates.push(n);
        }
        upTo = e.seq;
        if (candidates.length >= max) break;
      }
      if (candidates.length > 0) {
        const records = await this.o.store.lookupNumbers(series, candidates);
        for (const r of records.values()) {
          if ((r.status === 'issued' || r.status === 'refilled') && r.changedAt <= cutoff) due.push(r);
        }
      }
      cursor = upTo;
      // Only an empty page ends the trail: a store may answer fewer events than asked while more
      // follow (etcd reads a few batches per call), and stopping there let a pass cover only the
      // first page, so the sweep fell behind a busy series for good.
      const endOfTrail = reachedCutoff || events.length === 0;
      if (endOfTrail || due.length >= max || performance.now() > until) break;
    }
    const { released, notYetDue } = due.length > 0 ? await this.o.release(series, due, cutoff) : { released: 0, notYetDue: [] };
    // Only now: a failed release (503) throws above and the same events are looked at again. A
    // number the series' clock says is not due yet (this clock runs ahead of the committing
    // instance's) is looked at again too: the cursor stays before the event that handed it out.
    const retryFrom = Math.min(...notYetDue.filter((r) => r.grant > 0).map((r) => r.grant - 1));
    this.cursors.set(series, Math.min(cursor, retryFrom));
    // A count that cannot be read must not stop the releases of the other series.
    await this.countExpiring(series, cursor, cutoff).then(
      (n) => this.expiring.set(series, n),
      (error: unknown) => this.o.onError?.(error),
    );
    return released;
  }

  /** Numbers after the cursor still unconfirmed and unreleased that are due within the look-ahead. */
  private async countExpiring(series: string, from: number, cutoff: number): Promise<number> {
    const horizon = cutoff + (this.o.lookAheadMs ?? Math.min(15 * 60_000, this.o.timeoutMs / 2));
    const candidates: number[] = [];
    for (let cursor = from; candidates.length < LOOK_AHEAD_MAX; ) {
      const events = await this.o.store.readEvents(series, cursor, PAGE);
      if (events.length === 0) break;
      for (const e of events) {
        if (e.ts > horizon) return this.stillHeld(series, candidates, horizon);
        if ((e.type === 'issue' || e.type === 'refill') && e.first !== null && e.last !== null) {
          for (let n = e.first; n <= e.last && candidates.length < LOOK_AHEAD_MAX; n++) candidates.push(n);
        }
      }
      cursor = events[events.length - 1]?.seq ?? cursor;
    }
    return this.stillHeld(series, candidates, horizon);
  }

  /** How many are still held since before the horizon (a number refilled later expires later). */
  private async stillHeld(series: string, numbers: readonly number[], horizon: number): Promise<number> {
    if (numbers.length === 0) return 0;
    let held = 0;
    for (const r of (await this.o.store.lookupNumbers(series, numbers)).values()) {
      if ((r.status === 'issued' || r.status === 'refilled') && r.changedAt <= horizon) held++;
    }
    return held;
  }
}
