import { randomUUID } from 'node:crypto';
import { BatchTooLargeError, SeqdError, StoreUnavailableError } from '../domain/errors/index.js';
import { planBatch, type BatchPlan, type Outcome } from '../domain/planner.js';
import type { GapPolicy, Op, SeriesState, Settings } from '../domain/types.js';
import type { SequenceStore } from '../storage/sequence-store.js';

interface Pending {
  readonly op: Op;
  readonly enqueuedAt: number;
  resolve(outcome: TimedOutcome): void;
  reject(error: unknown): void;
}

export interface TimedOutcome {
  readonly outcome: Outcome;
  /** Epoch ms of the commit that made the outcome durable. */
  readonly committedAt: number;
  /** Queue wait plus commit, in ms. */
  readonly latencyMs: number;
}

export interface SeriesWorkerOptions {
  readonly series: string;
  readonly start: number;
  readonly store: SequenceStore;
  readonly node: string;
  readonly gapPolicy: GapPolicy;
  /** Current settings; read at every plan, updated by the worker that commits a setting op. */
  readonly settings: () => Settings;
  readonly onSettings: (settings: Settings) => void;
  readonly onCommit?: ((plan: BatchPlan, ops: readonly Op[]) => void) | undefined;
  readonly now?: () => number;
  /**
   * How long a batch keeps re-planning after version conflicts (another instance committed first)
   * before giving up with 503. A conflict means another writer made progress, so this is a time
   * budget, not a count.
   */
  readonly conflictBudgetMs?: number;
}

/**
 * The group-commit loop of one series: requests queue while a commit is in flight; when it lands,
 * everything queued (up to the store's batch limit) is planned and committed as one batch. No
 * timer holds requests back: a lone request is committed at the next turn of the event loop.
 * Replies are sent only after the store confirmed the commit.
 */
export class SeriesWorker {
  private readonly queue: Pending[] = [];
  private state: SeriesState | null = null;
  private inFlight = false;
  private scheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly now: () => number;

  constructor(private readonly o: SeriesWorkerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The last known state (null until first loaded). Never stale by more than one batch. */
  get current(): SeriesState | null {
    return this.state;
  }

  async load(): Promise<SeriesState> {
    this.state = await this.o.store.loadSeries(this.o.series, this.o.start);
    return this.state;
  }

  submit(op: Op): Promise<TimedOutcome> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('seqd is shutting down'));
    return new Promise<TimedOutcome>((resolve, reject) => {
      this.queue.push({ op, enqueuedAt: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Stops taking ops and waits until queued ones are answered. */
  async drain(): Promise<void> {
    this.closed = true;
    if (!this.inFlight && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    // One turn of the event loop lets requests parsed in the same I/O phase join the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.queue.length === 0) return;
    this.inFlight = true;
    const batch = this.queue.splice(0, this.o.store.limits.maxOpsPerBatch);
    try {
      for (;;) {
        try {
          const { plan, committedAt } = await this.commitBatch(batch.map((p) => p.op));
          const done = performance.now();
          batch.forEach((p, i) => {
            const outcome = plan.outcomes[i];
            if (outcome) p.resolve({ outcome, committedAt, latencyMs: done - p.enqueuedAt });
            else p.reject(new Error('planner returned fewer outcomes than ops'));
          });
          return;
        } catch (error) {
          if (error instanceof BatchTooLargeError && batch.length > 1) {
            // Nothing was written: commit the first half now, the rest goes back to the queue front.
            this.queue.unshift(...batch.splice(Math.ceil(batch.length / 2)));
            continue;
          }
          throw error;
        }
      }
    } catch (error) {
      // The state may have moved (or not): reload before the next plan.
      this.state = null;
      const failure =
        error instanceof SeqdError ? error : new StoreUnavailableError(`commit failed: ${String(error)}`, { cause: error });
      for (const p of batch) p.reject(failure);
    } finally {
      this.inFlight = false;
      if (this.queue.length > 0) this.schedule();
      else if (this.closed) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async commitBatch(ops: readonly Op[]): Promise<{ plan: BatchPlan; committedAt: number }> {
    const deadline = Date.now() + (this.o.conflictBudgetMs ?? 5000);
    const batchId = randomUUID();
    for (let attempt = 0; attempt === 0 || Date.now() < deadline; attempt++) {
      const state = this.state ?? (await this.load());
      const records = await this.o.store.lookupNumbers(this.o.series, this.releaseNumbers(state, ops));
      const now = this.now();
      const plan = planBatch(state, ops, records, {
        batchId,
        node: this.o.node,
        now,
        gapPolicy: this.o.gapPolicy,
        settings: this.o.settings(),
      });
      if (!plan.commit) return { plan, committedAt: now };
      const result = await this.o.store.commit(plan.commit);
      if (result.status === 'committed') {
        this.state = { ...plan.commit.next, version: result.version };
        if (plan.commit.settings) this.o.onSettings(plan.settings);
        this.o.onCommit?.(plan, ops);
        return { plan, committedAt: now };
      }
      // Another writer moved the series: re-plan the whole batch on its state, after a short
      // random pause so that two instances do not keep colliding in lockstep.
      this.state = result.state;
      await new Promise((r) => setTimeout(r, Math.random() * 3));
    }
    throw new StoreUnavailableError(`series "${this.o.series}" kept changing under this batch for too long; retry`);
  }

  /** Numbers named by release ops that the planner needs the store's record of. */
  private releaseNumbers(state: SeriesState, ops: readonly Op[]): number[] {
    const out: number[] = [];
    for (const op of ops) {
      if (op.kind === 'release' && op.sequenceNumber >= state.start && op.sequenceNumber <= state.hwm) {
        out.push(op.sequenceNumber);
      }
    }
    return out;
  }
}
