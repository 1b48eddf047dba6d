import { randomUUID } from 'node:crypto';
import { BatchTooLargeError, OutcomeUnknownError, SeqdError, SeriesStateMismatchError, StoreUnavailableError } from '../domain/errors/index.js';
import { planBatch, type BatchPlan, type CommitPlan, type Outcome } from '../domain/planner.js';
import type { GapPolicy, NumberChange, NumberRecord, Op, RequestRecord, SeriesState, Settings } from '../domain/types.js';
import { RequestLookup, type SequenceStore } from '../storage/sequence-store.js';
import type { PeerInstance } from './forwarding/commit-forwarder.js';
import { ForwardNotSentError } from './forwarding/forward-errors.js';
import type { ForwardedResult } from './forwarding/forwarded-result.js';
import { checkLoadedState, refillsProblem } from './series-state-probe.js';
import { undeliveredReleases } from './undelivered.js';

interface Pending {
  readonly op: Op;
  readonly enqueuedAt: number;
  /** When a pipelined conflict first sent it back to the queue (ms epoch). */
  conflictSince?: number;
  /** Forwarded here by another instance: committed here, never forwarded again. */
  readonly local: boolean;
  resolve(outcome: TimedOutcome): void;
  reject(error: unknown): void;
}

/**
 * Steps of a batch, timed for `seqd_batch_phase_seconds`: `queue` is the wait of its oldest
 * request before the batch starts, `plan` loading and planning (waiting for the plan before it
 * included), `forward` the round trip to the instance that commits the series (on the sender).
 * The store commit itself is `seqd_store_commit_duration_seconds`.
 */
export type BatchPhase = 'queue' | 'plan' | 'forward';

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
  /**
   * A load that finds the series holding no event and beginning below `start` moves it up to
   * `start` first (a server: `global-counter-start` raised after the series was created empty,
   * or another instance with a lower one created it); one it cannot move is not planned on.
   * Numbers below the start belong to an older system: a series is never moved down.
   */
  readonly raiseEmptyStart?: boolean | undefined;
  /** The series was moved up from `from` to `to` (see `raiseEmptyStart`). */
  readonly onStartRaised?: ((from: number, to: number) => void) | undefined;
  readonly store: SequenceStore;
  readonly node: string;
  readonly gapPolicy: GapPolicy;
  /** Current settings; read at every plan, updated by the worker that commits a setting op. */
  readonly settings: () => Settings;
  readonly onSettings: (settings: Settings) => void;
  /** After each commit: the plan, its ops, and how long the store took (ms). */
  readonly onCommit?: ((plan: BatchPlan, ops: readonly Op[], commitMs: number) => void) | undefined;
  /** A commit was refused by compare-and-swap (another writer moved the series). */
  readonly onConflict?: (() => void) | undefined;
  /** How long one step of a batch took (ms): where a request's time goes under load. */
  readonly onPhase?: ((phase: BatchPhase, ms: number) => void) | undefined;
  /**
   * A batch whose outcome was unknown is settled: whether it landed, and how many of its numbers
   * (which reached nobody) were released as `undelivered`.
   */
  readonly onResolved?: ((r: { batchId: string; landed: boolean; released: number }) => void) | undefined;
  /**
   * A load found the stored state contradicting the trail (the problem), or a later load found
   * it consistent again (null). Called on changes only.
   */
  readonly onStateMismatch?: ((problem: string | null) => void) | undefined;
  /** The series was loaded (and so exists in the store, created at `start` if it was missing). */
  readonly onLoaded?: (() => void) | undefined;
  /** Resolving an unknown outcome failed (the store is still unavailable); it is tried again. */
  readonly onResolveError?: ((error: unknown) => void) | undefined;
  /** How long idempotency records count (ms); older ones are treated as absent. */
  readonly requestWindowMs?: number | undefined;
  /** No event is stamped earlier (see `PlanContext.stampFloor`). */
  readonly stampFloor?: number | undefined;
  /** Sends batches to the instance that commits this series, when it is another one. */
  readonly forwarder?: BatchForwarder | undefined;
  readonly now?: () => number;
  /**
   * How long a batch keeps re-planning after version conflicts (another instance committed first)
   * before giving up with 503. A conflict means another writer made progress, so this is a time
   * budget, not a count.
   */
  readonly conflictBudgetMs?: number;
}

/** The part of `CommitForwarder` a worker uses. */
export interface BatchForwarder {
  targetFor(series: string): PeerInstance | null;
  forward(target: PeerInstance, series: string, ops: readonly Op[]): Promise<ForwardedResult[]>;
}

/** A pipelined batch did not land because the series moved under it; its ops go back in order. */
class PipelineConflict extends Error {}

/** A batch the store could not say had landed, with the releases owed if it did. */
interface Unresolved {
  readonly commit: CommitPlan;
  /** Numbers it handed to requests that got no answer and carry no idempotency key. */
  readonly undelivered: readonly Op[];
}

/** First and longest wait between attempts to settle an unknown outcome (ms). */
const RESOLVE_FIRST_MS = 200;
const RESOLVE_MAX_MS = 5000;
/** How long a shutdown waits for unknown outcomes to be settled. */
const DRAIN_RESOLVE_MS = 3000;

/** How often a series stopped by a state mismatch reads the store again (ms). */
const RECHECK_MS = 5000;

const NO_RECORDS: ReadonlyMap<number, NumberRecord> = new Map();
const NO_REQUESTS = new RequestLookup();

/**
 * An op that can be planned behind a batch still committing: an allocation without an idempotency
 * key (a key's record may be in that batch, not yet readable from the store).
 */
const pipelinable = (op: Op | undefined): boolean => op?.kind === 'allocate' && op.requestId === undefined;
/** Ops committed in a batch of their own (see `take`). */
const alone = (op: Op | undefined): boolean => op?.kind === 'maintenance' || op?.kind === 'migrate' || op?.kind === 'import' || op?.kind === 'archive';
/** Queue length from which an idle pipeline takes half of it (see `take`). */
const SPLIT_AT = 8;
/** Batches of one series on their way to the instance committing it. */
const MAX_FORWARDS_IN_FLIGHT = 3;

/**
 * The group-commit loop of one series: requests queue while a commit is in flight; when it lands,
 * everything queued (up to the store's batch limit) is planned and committed as one batch. No
 * timer holds requests back: a lone request is committed at the next turn of the event loop.
 * Replies are sent only after the store confirmed the commit.
 *
 * With a store that offers pipelining (SQLite), the next batch of allocations is planned on the
 * result of the one still committing and sent behind it, so planning, replying and fsync overlap.
 * Releases and setting changes are planned only when nothing is in flight (they read the store's
 * records, or change what later plans depend on). When a pipelined batch conflicts, every batch
 * planned on it conflicts too (the store compares version and hash); all of them go back to the
 * queue in order and are planned again on the stored state.
 */
export class SeriesWorker {
  private readonly queue: Pending[] = [];
  /** What the next batch is planned on: the stored state plus every batch still committing. */
  private state: SeriesState | null = null;
  /** The last state known to be stored. */
  private committed: SeriesState | null = null;
  private inFlight = 0;
  /** A batch is between its start and its plan (awaiting the store): nothing else may start. */
  private planning = false;
  private settingsInFlight = false;
  /** A pipelined batch conflicted: wait for the rest of the pipeline, then re-plan all of it. */
  private resync = false;
  private readonly requeued: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly now: () => number;
  private planChain: Promise<unknown> = Promise.resolve();
  private readonly unresolved: Unresolved[] = [];
  private resolveTimer: NodeJS.Timeout | null = null;
  private resolving: Promise<void> | null = null;
  /** The last check found the stored state contradicting the trail (see `load`). */
  private mismatch: { readonly error: SeriesStateMismatchError; readonly checkedAt: number } | null = null;
  /** Open gaps made by this worker's own plans since the last load (see `checkRefills`). */
  private readonly ownGaps = new Set<number>();

  constructor(private readonly o: SeriesWorkerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The last state known to be stored (null until first loaded). */
  get current(): SeriesState | null {
    return this.committed;
  }

  /**
   * Loads the series and checks it against its trail. A state that contradicts the trail is
   * never planned on: every load answers {@link SeriesStateMismatchError} until a check passes,
   * and the store is checked again at most every {@link RECHECK_MS}, so a repair is picked up.
   */
  async load(): Promise<SeriesState> {
    const mismatch = this.mismatch;
    if (mismatch && performance.now() - mismatch.checkedAt < RECHECK_MS) throw mismatch.error;
    const read = () => this.o.store.loadSeries(this.o.series, this.o.start);
    const { state, problem } = await checkLoadedState(this.o.store, await this.raisedStart(await read()), read);
    if (problem !== null) throw this.stop(problem);
    if (mismatch) {
      this.mismatch = null;
      this.o.onStateMismatch?.(null);
    }
    // Gaps of the stored state are checked against the trail before they are refilled.
    this.ownGaps.clear();
    this.state = state;
    this.committed = state;
    this.o.onLoaded?.();
    return state;
  }

  /** The loaded state, moved up to the configured start when it holds nothing and begins below it. */
  private async raisedStart(loaded: SeriesState): Promise<SeriesState> {
    const start = this.o.start;
    if (!this.o.raiseEmptyStart || loaded.eventSeq > 0 || loaded.closedAt !== null || loaded.start >= start) return loaded;
    const moved = await this.o.store.moveEmptySeriesStart(this.o.series, start, loaded.version);
    if (moved.eventSeq === 0 && moved.start < start) {
      throw new StoreUnavailableError(`series "${this.o.series}" begins at ${moved.start}, below the configured start ${start}, and another instance changed it while it was moved: try again`);
    }
    if (moved.start === start) this.o.onStartRaised?.(loaded.start, start);
    return moved;
  }

  /** Stops the series: its stored state contradicts the trail (see `load`). */
  private stop(problem: string): SeriesStateMismatchError {
    const error = new SeriesStateMismatchError(
      `series "${this.o.series}" is stopped: its stored state contradicts its audit trail (${problem}). ` +
        'No number is given from it until an administrator repairs the store (see `seqd audit verify`).',
      { details: { series: this.o.series, problem } },
    );
    const first = this.mismatch === null;
    this.mismatch = { error, checkedAt: performance.now() };
    this.state = null;
    if (first) this.o.onStateMismatch?.(problem);
    return error;
  }

  /**
   * Refills only gaps the trail left open. Gaps this worker released itself since its last load
   * are known good (a plan on a release that does not land cannot land either: its base is
   * compared); any other gap is looked up in the trail first, once.
   */
  private async checkRefills(base: SeriesState, changes: readonly NumberChange[]): Promise<void> {
    const refilled = changes.filter((c) => c.status === 'refilled' && !this.ownGaps.has(c.number));
    // A gap released and refilled within this very batch is not in the trail yet, nor in `base`.
    const stored = refilled.length === 0 ? null : new Set(base.openGaps.map((g) => g.number));
    const unchecked = refilled.filter((c) => stored?.has(c.number)).map((c) => c.number);
    const problem = unchecked.length === 0 ? null : await refillsProblem(this.o.store, this.o.series, unchecked);
    if (problem !== null) {
      // Another writer may have refilled or voided the gap since this state was read: only a
      // series still at the version this worker last knew stored contradicts its trail.
      if ((await this.o.store.seriesVersion(this.o.series)) === this.committed?.version) throw this.stop(problem);
      this.resync = true;
      this.state = null;
      throw new PipelineConflict();
    }
    for (const c of changes) {
      if (c.status === 'open') this.ownGaps.add(c.number);
      else this.ownGaps.delete(c.number);
    }
  }

  /** Queues an op; `local` ops (forwarded by another instance) are committed here. */
  submit(op: Op, local = false): Promise<TimedOutcome> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('seqd is shutting down'));
    return new Promise<TimedOutcome>((resolve, reject) => {
      this.queue.push({ op, enqueuedAt: performance.now(), local, resolve, reject });
      this.schedule();
    });
  }

  /** Stops taking ops and waits until queued ones are answered. */
  async drain(): Promise<void> {
    // Batches of unknown outcome are settled first if the store answers soon: once this process
    // is gone, nothing remembers to release their undelivered numbers.
    if (this.unresolved.length > 0) {
      await Promise.race([this.resolveUnknown().catch(() => undefined), new Promise((r) => setTimeout(r, DRAIN_RESOLVE_MS).unref())]);
    }
    this.closed = true;
    if (this.resolveTimer) clearTimeout(this.resolveTimer);
    if (this.idle()) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private idle(): boolean {
    return this.inFlight === 0 && this.queue.length === 0;
  }

  /** Nothing queued, committing or owed: the worker may be dropped (and made again on demand). */
  get disposable(): boolean {
    // A drained (closed) worker stays: a new one made in its place would take requests undrained.
    // A stopped series keeps its worker: the mismatch stays known and checks stay spaced.
    return !this.closed && this.mismatch === null && this.idle() && this.unresolved.length === 0 && !this.planning && this.resolving === null;
  }

  private canStart(): boolean {
    if (this.planning || this.resync || this.settingsInFlight) return false;
    if (this.inFlight === 0) return true;
    // Forwarded batches are planned by the other instance: several may travel at once.
    if (this.o.forwarder?.targetFor(this.o.series)) return this.inFlight < MAX_FORWARDS_IN_FLIGHT;
    return this.state !== null && this.inFlight < (this.o.store.pipelining?.maxInFlight ?? 1);
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || !this.canStart()) return;
    this.scheduled = true;
    // One turn of the event loop lets requests parsed in the same I/O phase join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.canStart()) {
      const batch = this.take();
      // The head needs the store's records: it waits until the pipeline is empty.
      if (batch.length === 0) return;
      // A batch planned here holds the pipeline from now on, not from when its plan starts
      // (after awaits): otherwise the next batch would be planned on the same base.
      const target = this.forwardTarget(batch);
      if (!target) this.planning = true;
      void this.run(batch, target);
    }
  }

  /**
   * The next batch from the queue head; behind a committing batch, only allocations. With an
   * empty pipeline, a long queue is cut in two batches: while the first commits, the second
   * follows it, and the replies of the first go out during the second's commit. Without the cut,
   * all clients would answer in one burst and send their next requests together, and the HTTP
   * thread would sit idle during every commit.
   */
  private take(): Pending[] {
    const max = this.o.store.limits.maxOpsPerBatch;
    if (this.inFlight === 0) {
      // A switch of the store's state goes alone: a store exempts its batch from the maintenance check.
      if (alone(this.queue[0]?.op)) return this.queue.splice(0, 1);
      const pipelined = (this.o.store.pipelining?.maxInFlight ?? 1) > 1 && this.queue.length >= SPLIT_AT;
      const until = this.queue.findIndex((p) => alone(p.op));
      const n = Math.min(max, pipelined ? Math.ceil(this.queue.length / 2) : max);
      return this.queue.splice(0, until < 0 ? n : Math.min(n, until));
    }
    let n = 0;
    while (n < max && pipelinable(this.queue[n]?.op)) n++;
    return this.queue.splice(0, n);
  }

  private async run(batch: Pending[], target: PeerInstance | null): Promise<void> {
    this.inFlight++;
    if (batch[0]) this.o.onPhase?.('queue', performance.now() - batch[0].enqueuedAt);
    try {
      if (target) {
        if (await this.forwarded(batch, target)) return;
        // Never sent: back to the head of the queue, to be planned here like any local batch
        // (holding the pipeline), not on whatever state the other forwards left.
        this.queue.unshift(...batch);
        return;
      }
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
      if (error instanceof PipelineConflict) this.requeue(batch);
      else this.fail(batch, error);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0 && this.resync) {
        this.resync = false;
        this.queue.unshift(...this.requeued.splice(0));
      }
      if (this.queue.length > 0) this.schedule();
      else if (this.closed && this.idle()) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Sends the batch to the instance that commits this series, if that is another one. False: commit
   * here (no such instance, or the batch never reached it). An unknown outcome is a 503, since the
   * other instance may have committed the batch.
   */
  /** The instance this batch goes to, or null when it is committed here. */
  private forwardTarget(batch: readonly Pending[]): PeerInstance | null {
    if (!this.o.forwarder || batch.some((p) => p.local)) return null;
    return this.o.forwarder.targetFor(this.o.series);
  }

  private async forwarded(batch: Pending[], target: PeerInstance): Promise<boolean> {
    const forwarder = this.o.forwarder;
    if (!forwarder) return false;
    try {
      const sent = performance.now();
      const results = await forwarder.forward(target, this.o.series, batch.map((p) => p.op));
      const done = performance.now();
      this.o.onPhase?.('forward', done - sent);
      for (const r of results) if (r.outcome.ok && r.outcome.kind === 'setting') this.o.onSettings(r.outcome.settings);
      batch.forEach((p, i) => {
        const r = results[i];
        if (r) p.resolve({ outcome: r.outcome, committedAt: r.committedAt, latencyMs: done - p.enqueuedAt });
        else p.reject(new StoreUnavailableError('forwarded batch came back short'));
      });
      return true;
    } catch (error) {
      if (error instanceof ForwardNotSentError) return false;
      // The committing instance sees this sender hang up and releases what it cannot deliver.
      const unknown = new OutcomeUnknownError(`the instance ${target.node} committing this series did not answer; the request may have been committed`, { cause: error });
      for (const p of batch) p.reject(unknown);
      return true;
    } finally {
      // The other instance moved the series: this one re-reads it before its own next plan.
      this.state = null;
    }
  }

  private requeue(batch: Pending[]): void {
    const now = Date.now();
    const budget = this.o.conflictBudgetMs ?? 5000;
    const expired: Pending[] = [];
    for (const p of batch) {
      p.conflictSince ??= now;
      (now - p.conflictSince > budget ? expired : this.requeued).push(p);
    }
    if (expired.length > 0) this.fail(expired, this.tooBusy());
  }

  private fail(batch: readonly Pending[], error: unknown): void {
    // The state may have moved (or not): reload before the next plan.
    this.state = null;
    const failure =
      error instanceof SeqdError ? error : new StoreUnavailableError(`commit failed: ${String(error)}`, { cause: error });
    for (const p of batch) p.reject(failure);
  }

  private tooBusy(): StoreUnavailableError {
    return new StoreUnavailableError(`series "${this.o.series}" kept changing under this batch for too long; retry`);
  }

  private async commitBatch(ops: readonly Op[]): Promise<{ plan: BatchPlan; committedAt: number }> {
    const pipelining = this.o.store.pipelining;
    const deadline = Date.now() + (this.o.conflictBudgetMs ?? 5000);
    const batchId = randomUUID();
    for (let attempt = 0; attempt === 0 || Date.now() < deadline; attempt++) {
      const planStart = performance.now();
      const { plan, now, base } = await this.plan(ops, batchId);
      this.o.onPhase?.('plan', performance.now() - planStart);
      const commit = plan.commit;
      if (!commit) {
        // A refusal is final for the client: answer it only from the stored state, never from a
        // cached one that another committer (or a failed pipelined batch) has left behind.
        if (plan.outcomes.every((o) => o.ok) || (await this.isStored(base))) return { plan, committedAt: Math.max(now, base.lastEventAt) };
        continue;
      }
      // The next batch may be planned on this one while it commits.
      if (pipelining) this.schedule();
      let result;
      const t0 = performance.now();
      try {
        result = await this.o.store.commit(commit);
      } catch (error) {
        if (error instanceof OutcomeUnknownError) this.owe(commit, ops, plan);
        // Too large: never sent, split and planned again. Its prediction must not be planned on.
        if (error instanceof BatchTooLargeError && pipelining && this.state?.version === pipelining.nextVersion(commit)) this.state = base;
        throw error;
      } finally {
        if (commit.settings) this.settingsInFlight = false;
      }
      if (result.status === 'committed') {
        // Answers of pipelined batches may come back out of order: keep the newest.
        if (!this.committed || commit.next.eventSeq >= this.committed.eventSeq) this.committed = { ...commit.next, version: result.version };
        if (!pipelining) this.state = this.committed;
        // The pipeline is empty again: the next plan starts from the stored version, which every
        // reader of the store understands, rather than from a prediction only the store reads.
        else if (this.inFlight === 1 && !this.planning && this.state?.version === pipelining.nextVersion(commit)) this.state = this.committed;
        if (commit.settings || commit.maintenance !== undefined) this.o.onSettings(plan.settings);
        this.o.onCommit?.(plan, ops, performance.now() - t0);
        return { plan, committedAt: commit.committedAt };
      }
      this.o.onConflict?.();
      if (pipelining) {
        // Batches planned on this one conflict too: all are planned again once the pipeline is empty.
        this.resync = true;
        this.state = null;
        throw new PipelineConflict();
      }
      // Another writer moved the series: re-plan the whole batch on its state, after a short
      // random pause so that two instances do not keep colliding in lockstep.
      // The next plan loads the series again: a state nobody checked against the trail is never planned on.
      this.state = null;
      this.committed = result.state;
      await new Promise((r) => setTimeout(r, Math.random() * 3));
    }
    throw this.tooBusy();
  }

  /**
   * Remembers a batch whose outcome is unknown. Its requests are answered OUTCOME_UNKNOWN; the
   * worker then re-sends the very same plan (idempotent by batch id) until the store gives a
   * definite answer. If it landed, the numbers of requests without an idempotency key reached
   * nobody: they are released as `undelivered`, so they show as audited gaps instead of numbers
   * issued to no invoice. Keyed requests keep theirs: a retry with the key gets them.
   */
  private owe(commit: CommitPlan, ops: readonly Op[], plan: BatchPlan): void {
    const undelivered = undeliveredReleases(ops, plan.outcomes);
    // Settled in trail order: a pipelined batch is settled after the one it was planned on
    // (whose fate decides whether it can still land), whichever of them failed first.
    const at = this.unresolved.findIndex((u) => (u.commit.events[0]?.seq ?? 0) > (commit.events[0]?.seq ?? 0));
    this.unresolved.splice(at < 0 ? this.unresolved.length : at, 0, { commit, undelivered });
    this.state = null;
    this.scheduleResolve(RESOLVE_FIRST_MS);
  }

  private scheduleResolve(delayMs: number): void {
    if (this.resolveTimer || this.unresolved.length === 0) return;
    this.resolveTimer = setTimeout(() => {
      this.resolveTimer = null;
      void this.resolveUnknown().then(
        () => this.scheduleResolve(RESOLVE_FIRST_MS),
        (error: unknown) => {
          this.o.onResolveError?.(error);
          this.scheduleResolve(Math.min(RESOLVE_MAX_MS, delayMs * 2));
        },
      );
    }, delayMs);
    this.resolveTimer.unref();
  }

  /** Settles every batch whose outcome is unknown; rejects if the store still cannot tell. */
  resolveUnknown(): Promise<void> {
    this.resolving ??= (async () => {
      while (this.unresolved.length > 0) {
        const u = this.unresolved[0] as Unresolved;
        const result = await this.o.store.commit(u.commit);
        // Landed now or before: the cached state no longer describes the store.
        this.state = null;
        const landed = result.status === 'committed';
        // Until every release is done the entry stays: a repeat re-sends the plan (answered
        // committed) and the releases again (those done answer alreadyReleased).
        const outcomes = landed ? await Promise.all(u.undelivered.map((op) => this.submit(op))) : [];
        // A release forwarded to an instance whose commit failed comes back as a refusal: the
        // entry stays and is settled again later (each done release then answers alreadyReleased).
        const failed = outcomes.find((r) => !r.outcome.ok && r.outcome.error.retryable)?.outcome;
        if (failed && !failed.ok) throw failed.error;
        this.unresolved.shift();
        const released = outcomes.filter((r) => r.outcome.ok && r.outcome.kind === 'release' && !r.outcome.alreadyReleased).length;
        this.o.onResolved?.({ batchId: u.commit.batchId, landed, released });
      }
    })().finally(() => {
      this.resolving = null;
    });
    return this.resolving;
  }

  /** Batches whose outcome is not known yet. */
  get unresolvedCount(): number {
    return this.unresolved.length;
  }

  /**
   * Plans the batch on the current state (loading it and the records it needs); until `state`
   * includes the plan, no other batch of the series is planned.
   */
  private plan(ops: readonly Op[], batchId: string): Promise<{ plan: BatchPlan; now: number; base: SeriesState }> {
    // Plans of one series never overlap: each is made on the state the one before it left.
    const next = this.planChain.then(() => this.planNow(ops, batchId));
    this.planChain = next.catch(() => undefined);
    return next;
  }

  /**
   * Whether `base` is the stored state of the series. With batches of this worker still
   * committing, `base` includes them and cannot be checked yet: the caller's batch goes back
   * to the queue and is planned again once they have landed.
   */
  private async isStored(base: SeriesState): Promise<boolean> {
    if (this.inFlight > 1) {
      this.resync = true;
      this.state = null;
      throw new PipelineConflict();
    }
    const stored = await this.o.store.seriesVersion(this.o.series);
    if (stored === base.version) return true;
    this.state = null;
    return false;
  }

  private async planNow(ops: readonly Op[], batchId: string): Promise<{ plan: BatchPlan; now: number; base: SeriesState }> {
    this.planning = true;
    try {
      const state = this.state ?? (await this.load());
      const keys = requestKeys(ops);
      const requests =
        keys.length === 0
          ? NO_REQUESTS
          : await this.o.store.lookupRequests(this.o.series, keys, this.now() - (this.o.requestWindowMs ?? 24 * 3600_000));
      // A replay reports what became of each of its numbers: their records are needed too.
      const wanted = this.numbersToLookUp(state, ops, requests.values());
      const records = wanted.length === 0 ? NO_RECORDS : await this.o.store.lookupNumbers(this.o.series, wanted);
      const now = this.now();
      const plan = planBatch(state, ops, records, {
        batchId,
        node: this.o.node,
        now,
        gapPolicy: this.o.gapPolicy,
        settings: this.o.settings(),
        requests,
        requestVersions: requests.versions,
        stampFloor: this.o.stampFloor,
      });
      if (plan.commit) await this.checkRefills(state, plan.commit.numberChanges);
      const pipelining = this.o.store.pipelining;
      if (plan.commit && pipelining) this.state = { ...plan.commit.next, version: pipelining.nextVersion(plan.commit) };
      if (plan.commit?.settings) this.settingsInFlight = true;
      return { plan, now, base: state };
    } finally {
      this.planning = false;
    }
  }

  /**
   * Numbers the planner needs the store's record of: those named by release and confirm ops, and
   * those of requests about to be replayed.
   */
  private numbersToLookUp(state: SeriesState, ops: readonly Op[], replays: Iterable<RequestRecord>): number[] {
    const out = new Set<number>();
    const stored = (n: number) => n >= state.start && n <= state.hwm;
    for (const op of ops) {
      if ((op.kind === 'release' || op.kind === 'confirm') && stored(op.sequenceNumber)) out.add(op.sequenceNumber);
    }
    for (const r of replays) if (!r.released && r.series === this.o.series) for (const n of r.numbers) if (stored(n)) out.add(n);
    return [...out];
  }
}

/** Idempotency keys of the batch's allocations. */
function requestKeys(ops: readonly Op[]): string[] {
  const keys: string[] = [];
  for (const op of ops) if (op.kind === 'allocate' && op.requestId !== undefined) keys.push(op.requestId);
  return keys;
}
