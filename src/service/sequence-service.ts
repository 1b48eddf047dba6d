import { EventEmitter } from 'node:events';
import type { ChainHead } from '../domain/saved-head.js';
import type { VerifyReport } from '../domain/verify-report.js';
import { ConfigError, RequestInOtherSeriesError, SeqdError, SeriesStateMismatchError, StoreUnavailableError, ValidationError } from '../domain/errors/index.js';
import { formatAllocationToken, parseAllocationToken } from '../domain/allocation-token.js';
import { SYSTEM_ACTORS } from '../domain/actors.js';
import { isLiveSeries } from '../domain/live-series.js';
import { isInternalSeries, parseSeriesName, PLAIN_STRATEGY, type SeriesStrategy } from '../domain/series-strategy.js';
import type { AllocateResult, BatchPlan, Outcome } from '../domain/planner.js';
import type {
  AllocationRef,
  ArchiveMark,
  ArchiveOp,
  AuditEvent,
  GapPolicy,
  InvoiceType,
  LegacyGap,
  NumberRecord,
  Op,
  SeriesState,
  Settings,
} from '../domain/types.js';
import type { AuditQuery, SequenceStore, StoreHealth, TotalsRow } from '../storage/sequence-store.js';
import { PerfRecorder } from './perf-recorder.js';
import { RecentRing } from './recent-ring.js';
import type { NumberFormat } from '../domain/number-format.js';
import type { FormerNumbering } from '../domain/numbering-profile.js';
import { stampFloorOf } from '../domain/printed-text.js';
import { SeriesStatesCache } from './series-states-cache.js';
import { SeriesDirectory } from './series-directory.js';
import { encodeOutcome, type WireOutcome } from './forwarding/outcome-codec.js';
import { SeriesWorker, type BatchForwarder, type BatchPhase } from './series-worker.js';
import { undeliveredReleases } from './undelivered.js';
import { checkHeldSeries } from './held-series-check.js';
import { verifySeries } from './verify-series.js';
import type {
  ConfirmRequest,
  ConfirmResponse,
  MultiVerifyReport,
  NextRequest,
  NextResponse,
  ReleaseRequest,
  ReleaseResponse,
} from './service-api.js';

export type * from './service-api.js';

/** Workers kept before idle ones are dropped (see `worker`). */
const MAX_IDLE_WORKERS = 256;

/** How long an idempotency key counts when the options name no window (as the series worker's). */
const DEFAULT_REQUEST_WINDOW_MS = 24 * 3600_000;

/** Reason of a settings change made by the configuration at start (see `start`). */
const CONFIG_REASON = 'configuration at start-up';

/**
 * Refusals of an expiry release that settle the number: released or confirmed already, held by
 * another allocation or holder now, never issued, or gone with its series' archive. (Not due yet
 * by the series' clock is NUMBER_ALREADY_RELEASED marked `notYetDue`: looked at again.)
 */
const EXPIRY_SETTLED: ReadonlySet<string> = new Set(['NUMBER_ALREADY_RELEASED', 'NUMBER_CONFIRMED', 'NUMBER_REASSIGNED', 'HOLDER_MISMATCH', 'NUMBER_NOT_ISSUED', 'SERIES_ARCHIVED']);

/** What an expiry pass did: releases, and the numbers the series' clock says are not due yet. */
export interface ExpiryResult {
  readonly released: number;
  /** Refused as held too briefly (the sweeping clock runs ahead): to be looked at again. */
  readonly notYetDue: readonly NumberRecord[];
}

export interface SiteConfig {
  readonly id: string;
  readonly partitions: readonly string[];
}

/**
 * Told about allocations and commits as they happen (metrics). Called on the hot path: an
 * implementation must be cheap and must not throw.
 */
export interface ServiceObserver {
  /** Numbers handed out to a new request (not a retry answered from its idempotency key). */
  allocated(siteId: string, partitionId: string, invoiceType: string, count: number): void;
  /** One atomic commit of `ops` requests took `seconds` in the store. */
  committed(ops: number, seconds: number): void;
  /** A commit was refused by compare-and-swap and is planned again. */
  conflicted(): void;
  /** One step of a batch's way took `seconds` (see {@link BatchPhase}). */
  phase(phase: BatchPhase, seconds: number): void;
}

export interface ServiceOptions {
  readonly store: SequenceStore;
  readonly node: string;
  readonly start: number;
  /**
   * Move open series that hold no event and begin below `start` up to it when their worker loads
   * them (every open series at start, others when first used): a server. A command working on
   * the store directly leaves them (see `toolService`).
   */
  readonly moveEmptyStarts?: boolean | undefined;
  /** What happens to released numbers (see {@link GapPolicy}). */
  readonly gapPolicy: GapPolicy;
  readonly sites: readonly SiteConfig[];
  readonly maxCount: number;
  /** Initial value of the simulated toggle (from configuration). */
  readonly simulatedEnabled: boolean;
  readonly now?: () => number;
  /** Shows numbers as e.g. `INV-2026-000123` in `formatted` (absent: not shown). */
  readonly format?: NumberFormat | undefined;
  /** Formats by series base name (`site-1`, `global`), overriding `format`. */
  readonly formats?: ReadonlyMap<string, NumberFormat> | undefined;
  /** How requests map to series (default: one global series that never rolls over). */
  readonly strategy?: SeriesStrategy | undefined;
  /**
   * The store's former numberings (`StoreIdentity.formerNumbering`): replies to retried requests
   * and exports show numbers as printed under them, and no event is stamped before the latest
   * change (see `printed-text.ts`).
   */
  readonly formerNumbering?: readonly FormerNumbering[] | undefined;
  /** How long an idempotency key returns its original numbers (ms; default 24 h). */
  readonly requestWindowMs?: number | undefined;
  /** HA: sends a series' batches to the one instance committing it (see `CommitForwarder`). */
  readonly forwarder?: BatchForwarder | undefined;
  readonly observer?: ServiceObserver | undefined;
}


/** One allocation as shown by the dashboard's "last numbers" list. */
export interface RecentAllocation {
  readonly numbers: readonly number[];
  readonly refilled: readonly number[];
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  readonly released: boolean;
  readonly at: number;
}

/** Events for live views: emitted once per committed batch, never per number. */
export interface ServiceEvents {
  batch: [summary: { series: string; requests: number; numbers: number; events: number; hwm: number }];
  settings: [settings: Settings];
  /** A batch whose outcome was unknown is settled (see {@link OutcomeUnknownError}). */
  resolved: [r: { series: string; batchId: string; landed: boolean; released: number }];
  /** Settling an unknown outcome failed; it is retried. */
  resolveFailed: [series: string, error: unknown];
  /** A series was stopped because its stored state contradicts its trail (problem), or serves again (null). */
  stateMismatch: [series: string, problem: string | null];
}

/**
 * The sequence service: validates requests against the configured sites, routes them to the
 * group-commit worker of their series and turns outcomes into replies or typed errors.
 */
export class SequenceService {
  readonly perf: PerfRecorder;
  readonly recent = new RecentRing<RecentAllocation>(50);
  readonly events = new EventEmitter<ServiceEvents>();
  readonly startedAt: number;
  /**
   * The configured first number of a series (`global-counter-start`). Every load passes it, reads
   * included: `loadSeries` creates a missing series there, so whichever load comes first (another
   * instance's read, a series listed but not yet loaded here) creates it where allocation would.
   */
  get firstNumber(): number {
    return this.o.start;
  }
  private readonly workers = new Map<string, SeriesWorker>();
  private readonly mismatched = new Map<string, string>();
  private readonly verified = new Map<string, { valid: boolean; at: number }>();
  private settings: Settings;
  private readonly sites: ReadonlyMap<string, ReadonlySet<string>>;
  private readonly now: () => number;
  /** No event is stamped before the store's latest change of numbering (see `printed-text.ts`). */
  private readonly stampFloor: number;
  readonly directory: SeriesDirectory;
  private readonly allSeries: SeriesStatesCache;

  private constructor(private readonly o: ServiceOptions) {
    this.now = o.now ?? Date.now;
    this.stampFloor = stampFloorOf(o.formerNumbering);
    this.allSeries = new SeriesStatesCache(o.store, o.start);
    const first = o.sites[0];
    this.directory = new SeriesDirectory({
      strategy: o.strategy ?? PLAIN_STRATEGY,
      store: o.store,
      defaultKey: { siteId: first?.id ?? '', partitionId: first?.partitions[0] ?? '', invoiceType: 'on-cycle' },
      format: o.format,
      formats: o.formats,
      formerNumbering: o.formerNumbering,
      start: o.start,
    });
    this.perf = new PerfRecorder(this.now);
    this.startedAt = this.now();
    this.settings = { simulatedEnabled: o.simulatedEnabled };
    this.sites = new Map(o.sites.map((s) => [s.id, new Set(s.partitions)]));
  }

  /**
   * Opens the default and the settings series, checks the configured start against every open
   * series and applies config toggles.
   */
  static async start(options: ServiceOptions): Promise<SequenceService> {
    const service = new SequenceService(options);
    const dir = service.directory;
    for (const name of [dir.defaultSeries(service.now()), dir.control]) await service.checkedLoad(name);
    // Through the cache of every series: what it keeps makes the first stats, scrape and dashboard
    // snapshot (and the rollover's first pass) read only what changed since.
    for (const state of await service.seriesStates()) {
      const name = state.series;
      if (state.closedAt === null) await service.checkedLoad(name);
      if (state.closedAt === null && state.start !== options.start && state.hwm >= state.start) {
        throw new ConfigError(
          'sequence.core.global-counter-start',
          `is ${options.start} but series "${state.series}" started at ${state.start} and has issued up to ${state.hwm}; a running series cannot be moved`,
        );
      }
    }
    const stored = await options.store.loadSettings();
    service.settings = { simulatedEnabled: stored.simulatedEnabled ?? options.simulatedEnabled, maintenance: stored.maintenance ?? false };
    if (service.settings.simulatedEnabled !== options.simulatedEnabled) {
      // The configuration wins only over a value it set itself: a switch by an operator (API,
      // dashboard) stays until an operator switches back.
      const last = await service.lastSettingEvent('simulatedEnabled');
      if (last && !last.reason?.endsWith(`: ${CONFIG_REASON}`)) {
        service.settingsKept = `simulated stays ${service.settings.simulatedEnabled ? 'on' : 'off'}: switched at ${new Date(last.ts).toISOString()} (${last.reason ?? ''}); the configuration says ${options.simulatedEnabled ? 'on' : 'off'}`;
      } else if (service.mismatched.has(dir.control)) {
        // The settings trail is stopped (its state contradicts it): the stored value stays.
        service.settingsKept = `simulated stays ${service.settings.simulatedEnabled ? 'on' : 'off'}: the settings series is stopped (state mismatch)`;
      } else {
        await service.setSimulated(options.simulatedEnabled, CONFIG_REASON, SYSTEM_ACTORS.config);
      }
    }
    return service;
  }

  /** Bumped by every toggle committed (or answered) here; see `refreshSettings`. */
  private settingsGeneration = 0;

  /** Why a stored setting was kept over the configured one at start (for the log), if it was. */
  settingsKept: string | null = null;

  /** Empty series whose start moved up to the configured one (logged at start): `name: from → to`. */
  readonly startsMoved: string[] = [];

  /** The latest audited change of a setting. */
  private async lastSettingEvent(key: keyof Settings): Promise<AuditEvent | undefined> {
    const events = await this.o.store.queryEvents({ series: this.directory.control, type: 'setting', order: 'desc', limit: 50 });
    return events.find((e) => e.reason?.startsWith(`${key}=`));
  }

  /**
   * Reads the settings again from the store: a toggle committed by another instance takes effect
   * here too (called every few seconds).
   */
  async refreshSettings(): Promise<void> {
    const generation = this.settingsGeneration;
    const stored = await this.o.store.loadSettings();
    // A toggle committed here while the read was on its way is newer than what it read.
    if (generation !== this.settingsGeneration) return;
    const maintenance = stored.maintenance ?? false;
    const simulated = stored.simulatedEnabled ?? this.settings.simulatedEnabled;
    if (simulated !== this.settings.simulatedEnabled || maintenance !== (this.settings.maintenance ?? false)) {
      this.settings = { ...this.settings, simulatedEnabled: simulated, maintenance };
      this.events.emit('settings', this.currentSettings);
    }
  }

  get node(): string {
    return this.o.node;
  }
  get store(): SequenceStore {
    return this.o.store;
  }
  /** How long idempotency records count (ms). */
  /** The service's clock (tests inject one). */
  get clock(): () => number {
    return this.now;
  }

  get requestWindowMs(): number {
    return this.o.requestWindowMs ?? DEFAULT_REQUEST_WINDOW_MS;
  }
  get gapPolicy(): GapPolicy {
    return this.o.gapPolicy;
  }
  get currentSettings(): Settings {
    return { ...this.settings };
  }
  /** The settings as the API and the dashboard show them: toggles plus the configured gap policy. */
  get shownSettings(): Settings & { gapRecoveryEnabled: boolean; gapPolicy: GapPolicy } {
    return { ...this.settings, gapRecoveryEnabled: this.o.gapPolicy !== 'none', gapPolicy: this.o.gapPolicy };
  }
  get siteConfig(): readonly SiteConfig[] {
    return this.o.sites;
  }
  get maxCount(): number {
    return this.o.maxCount;
  }

  /** `actor` (here and in every call that writes): who asks, for the audit trail (see `AuditEvent.actor`). */
  async next(req: NextRequest, actor: string | null): Promise<NextResponse> {
    this.checkHolder(req.siteId, req.partitionId);
    if (!Number.isSafeInteger(req.count) || req.count < 1 || req.count > this.o.maxCount) {
      throw new ValidationError(`count must be an integer from 1 to ${this.o.maxCount}`, {
        field: 'count',
        details: { min: 1, max: this.o.maxCount },
      });
    }
    const at = this.now();
    let series = (await this.directory.startedLater(req, at)) ?? this.directory.forAllocation(req, at);
    let { outcome, committedAt, latencyMs } = await this.worker(series).submit({ kind: 'allocate', ...req, actor });
    if (!outcome.ok && outcome.error instanceof RequestInOtherSeriesError) {
      // The key took its numbers in another series (the request first landed on the other side
      // of a period change, or on an instance whose clock is ahead): the retry is answered there.
      series = String(outcome.error.details?.series);
      ({ outcome, committedAt, latencyMs } = await this.worker(series).submit({ kind: 'allocate', ...req, actor, replayOnly: true }));
    }
    const r = expect(outcome, 'allocate');
    this.perf.record(latencyMs, r.numbers.length);
    if (r.replayOf === undefined) this.o.observer?.allocated(req.siteId, req.partitionId, req.invoiceType, r.numbers.length);
    this.recent.push({
      numbers: r.numbers.length > 20 ? [...r.numbers.slice(0, 10), ...r.numbers.slice(-10)] : r.numbers,
      refilled: r.refilled,
      siteId: req.siteId,
      partitionId: req.partitionId,
      invoiceType: req.invoiceType,
      released: r.released,
      at: committedAt,
    });
    return this.nextReply(req, series, r, r.replayOf ?? committedAt, r.replayOf !== undefined);
  }

  private nextReply(req: NextRequest, series: string, r: AllocateResult, at: number, replayed: boolean): NextResponse {
    const reply: NextResponse = {
      sequenceNumber: r.numbers[0] ?? 0,
      numbers: [...r.numbers],
      count: r.numbers.length,
      series,
      siteId: req.siteId,
      partitionId: req.partitionId,
      invoiceType: req.invoiceType,
      refilled: [...r.refilled],
      status: r.released ? 'released' : 'issued',
      node: this.o.node,
      timestamp: new Date(at).toISOString(),
    };
    const format = this.directory.formatterOf(series);
    const formatted = format ? r.numbers.map((n) => format(n, at)) : [];
    // A number committed with no format in force is shown as it was: without one.
    if (formatted.length > 0 && formatted.every((f): f is string => f !== null)) reply.formatted = formatted;
    if (req.requestId !== undefined) {
      reply.requestId = req.requestId;
      reply.replayed = replayed;
    }
    if (r.allocation) reply.allocation = formatAllocationToken(series, r.allocation);
    return reply;
  }

  /** The series a release or confirm acts in, and the allocation it names (if any). */
  private async heldNumberTarget(req: ReleaseRequest | ConfirmRequest): Promise<{ series: string; allocation: AllocationRef | undefined }> {
    if (req.allocation === undefined) {
      const series = await this.directory.forHeldNumber(req, this.now());
      checkHeldSeries(this.directory.strategy, series, req, this.sites);
      return { series, allocation: undefined };
    }
    const { series, ref } = parseAllocationToken(req.allocation);
    if (req.series !== undefined && req.series !== series) {
      throw new ValidationError(`series "${req.series}" differs from the series of allocation "${req.allocation}"`, { field: 'series' });
    }
    checkHeldSeries(this.directory.strategy, series, req, this.sites);
    await this.directory.requireExisting(series);
    return { series, allocation: ref };
  }

  async release(req: ReleaseRequest, actor: string | null): Promise<ReleaseResponse> {
    this.checkHolder(req.siteId, req.partitionId);
    const { series, allocation } = await this.heldNumberTarget(req);
    const { sequenceNumber, siteId, partitionId, reason } = req;
    const { outcome, committedAt } = await this.worker(series).submit({ kind: 'release', sequenceNumber, siteId, partitionId, reason, allocation, actor });
    const r = expect(outcome, 'release');
    return {
      sequenceNumber: r.sequenceNumber,
      series,
      status: r.status,
      reason: r.reason,
      alreadyReleased: r.alreadyReleased,
      ...allocationOf(series, r.allocation),
      ...r.previousHolder,
      node: this.o.node,
      timestamp: new Date(committedAt).toISOString(),
    };
  }

  /**
   * Finalises a held number: it can no longer be released (a final invoice is corrected by a
   * credit note). Confirming it again answers the same, with `alreadyConfirmed`.
   */
  async confirm(req: ConfirmRequest, actor: string | null): Promise<ConfirmResponse> {
    this.checkHolder(req.siteId, req.partitionId);
    const { series, allocation } = await this.heldNumberTarget(req);
    const { sequenceNumber, siteId, partitionId } = req;
    const { outcome, committedAt } = await this.worker(series).submit({ kind: 'confirm', sequenceNumber, siteId, partitionId, allocation, actor });
    const r = expect(outcome, 'confirm');
    return {
      sequenceNumber: r.sequenceNumber,
      series,
      status: 'confirmed',
      alreadyConfirmed: r.alreadyConfirmed,
      ...allocationOf(series, r.allocation),
      ...r.holder,
      node: this.o.node,
      timestamp: new Date(committedAt).toISOString(),
    };
  }

  /** Turns the `simulated` invoice type on or off; the change is an audit event. */
  async setSimulated(enabled: boolean, reason: string, actor: string | null): Promise<Settings> {
    const op: Op = { kind: 'setting', key: 'simulatedEnabled', value: enabled, reason, actor };
    const { outcome } = await this.worker(this.directory.control).submit(op);
    return expect(outcome, 'setting').settings;
  }

  /**
   * Starts `series` where a legacy numbering left off (see `ImportOp`); refused (ValidationError)
   * when the series issued numbers already.
   */
  async importLegacy(series: string, last: number, gaps: readonly LegacyGap[], reason: string, actor: string | null): Promise<void> {
    const { outcome } = await this.worker(series).submit({ kind: 'import', last, gaps, reason, actor });
    expect(outcome, 'numbering');
  }

  /**
   * Records in the control series that the numbering moved here from another store, and ends the
   * maintenance the store was restored under, in one commit (see `MigrateOp`).
   */
  async recordMigration(reason: string, actor: string | null): Promise<void> {
    const { outcome } = await this.worker(this.directory.control).submit({ kind: 'migrate', reason, actor });
    expect(outcome, 'numbering');
  }

  /**
   * Switches the store's maintenance on or off; the switch is an audit event. While it is on the
   * store commits nothing else, on any instance (see `MaintenanceOp`).
   */
  async setMaintenance(enabled: boolean, reason: string, actor: string | null, migratedTo?: string): Promise<Settings> {
    const { outcome } = await this.worker(this.directory.control).submit({ kind: 'maintenance', enabled, reason, actor, ...(migratedTo === undefined ? {} : { migratedTo }) });
    return expect(outcome, 'setting').settings;
  }

  /**
   * Closes a series whose period ended: its open gaps become void and a `close` event records
   * the final state. Answers whether this call closed it (false: it was closed already).
   */
  async closeSeries(series: string, reason: string, actor: string | null): Promise<{ closed: boolean; voided: number }> {
    await this.directory.requireExisting(series);
    const { outcome } = await this.worker(series).submit({ kind: 'close', reason, actor });
    const r = expect(outcome, 'close');
    return { closed: !r.alreadyClosed, voided: r.voided };
  }

  /**
   * Commits the `archive` event of a closed series whose archive file ends at `op.headSeq` (see
   * `ArchiveOp`); from then on the series refuses every op (SERIES_ARCHIVED, 410).
   */
  async markArchived(series: string, op: Omit<ArchiveOp, 'kind' | 'actor'>, actor: string | null): Promise<ArchiveMark> {
    await this.directory.requireExisting(series);
    if (series === this.directory.control) throw new ValidationError('the settings trail is never archived', { field: 'series' });
    const { outcome } = await this.worker(series).submit({ kind: 'archive', ...op, actor });
    return expect(outcome, 'archive').mark;
  }

  /** The series reads show when the request names none (the first site's, current period). */
  defaultSeries(): string {
    return this.directory.defaultSeries(this.now());
  }

  /**
   * The series a read names, or the default one; refuses (404) a named series that does not
   * exist, so that a read never creates one.
   */
  async readSeries(series: string | undefined): Promise<string> {
    if (series === undefined) {
      const name = this.defaultSeries();
      // Created once if absent, through the store: reloading the worker here would replace the
      // state of batches it is committing.
      if (!this.directory.isKnown(name)) {
        await this.o.store.loadSeries(name, this.o.start);
        this.directory.noteExists(name);
      }
      return name;
    }
    await this.directory.requireExisting(series);
    return series;
  }

  /** Records a change of the store's numbering in the settings trail (see `seqd change-numbering`). */
  async recordNumberingChange(reason: string, actor: string | null): Promise<void> {
    const { outcome } = await this.worker(this.directory.control).submit({ kind: 'numbering', reason, actor });
    expect(outcome, 'numbering');
  }

  /** The last event known committed of every series loaded here (for the data directory's marker). */
  *committedHeads(): Iterable<[string, { seq: number; hash: string }]> {
    for (const [name, worker] of this.workers) {
      const s = worker.current;
      if (s) yield [name, { seq: s.eventSeq, hash: s.lastHash }];
    }
  }

  /**
   * Current state of every numbering series (not the internal settings trail), read from the
   * store: other instances may have moved them.
   */
  /**
   * Series stopped because their stored state contradicts their trail, with the problem found:
   * they answer SERIES_STATE_MISMATCH (503) until a check passes again.
   */
  get mismatchedSeries(): ReadonlyMap<string, string> {
    return this.mismatched;
  }

  /**
   * Checks stopped series again (a load is spaced by the worker), so a repair shows without
   * waiting for a request: the alert clears once the store agrees with the trail.
   */
  async recheckStopped(): Promise<void> {
    for (const series of [...this.mismatched.keys()]) {
      await this.worker(series)
        .load()
        .catch(() => undefined);
    }
  }

  /**
   * Loads a series at start; a mismatch stops that series only (reported, re-checked later), and
   * one that another instance kept moving during the check is loaded again at its first request.
   */
  private async checkedLoad(series: string): Promise<void> {
    try {
      await this.worker(series).load();
    } catch (error) {
      if (!(error instanceof SeriesStateMismatchError) && !(error instanceof StoreUnavailableError)) throw error;
    }
  }

  /** Every series' state, for display (each kept between calls until it changes: see the cache). */
  async seriesStates(): Promise<SeriesState[]> {
    return this.allSeries.states();
  }

  /** Whether a series is live (open, or closed recently) by this service's clock: see `isLiveSeries`. */
  isLive(state: SeriesState): boolean {
    return isLiveSeries(state, this.now());
  }

  /**
   * Whether the series was seen closed by a read of every series. A closed series is never open
   * again, so true is final; false means "not known", to be read from the store.
   */
  isKnownClosed(series: string): boolean {
    return this.allSeries.isKnownClosed(series);
  }

  /** Grows whenever a closed series changes, appears or goes (see the cache). */
  get closedSeriesGeneration(): number {
    return this.allSeries.closedGeneration;
  }

  /** Totals by site × partition × type of each of these series (one row per combination and series). */
  async totalsOfSeries(states: readonly SeriesState[]): Promise<TotalsRow[]> {
    return this.allSeries.totals(states);
  }

  async totals(series: string): Promise<TotalsRow[]> {
    return this.o.store.totals(series);
  }

  async numbers(series: string, statuses: ('open' | 'void' | 'refilled')[], limit: number): Promise<NumberRecord[]> {
    return this.o.store.listNumbers({ series, statuses, limit });
  }

  async audit(query: AuditQuery): Promise<AuditEvent[]> {
    return this.o.store.queryEvents(query);
  }

  /**
   * Verifies a series: its hash chain and continuity, its derived tables recomputed from the trail
   * and, when given, a head the caller saved (see `verifySeries`).
   */
  async verify(series: string, opts: { savedHead?: ChainHead | undefined; onProgress?: (checked: number) => void } = {}): Promise<VerifyReport & { durationMs: number }> {
    const worker = this.worker(series);
    const report = await verifySeries(series, {
      store: this.o.store,
      start: worker.current?.start ?? this.o.start,
      requestWindowMs: this.o.requestWindowMs ?? DEFAULT_REQUEST_WINDOW_MS,
      now: this.now,
      ...opts,
    });
    this.verified.set(series, { valid: report.valid, at: this.now() });
    return report;
  }

  /** The last verify of each series run on this instance (for the alerting metrics). */
  get lastVerifies(): ReadonlyMap<string, { readonly valid: boolean; readonly at: number }> {
    return this.verified;
  }

  /**
   * Verifies several series (all of them, or those of one period): `valid` only if every one
   * is; the top-level report is that of the first invalid series, else of the default one.
   */
  async verifyAll(period?: string): Promise<MultiVerifyReport> {
    const t0 = performance.now();
    // A year names its months too: period=2026 verifies 2026-01 … 2026-12 of monthly series.
    const inPeriod = (p: string | null | undefined) => period === undefined || p === period || (p?.startsWith(`${period}-`) ?? false);
    const names = (await this.o.store.listSeries()).filter((n) => inPeriod(parseSeriesName(n).period)).sort();
    if (names.length === 0) {
      throw new ValidationError(`no series of period "${period ?? ''}"`, { field: 'period' });
    }
    const reports: (VerifyReport & { durationMs: number })[] = [];
    for (const name of names) reports.push(await this.verify(name));
    const focus = reports.find((r) => !r.valid) ?? reports.find((r) => r.series === this.defaultSeries()) ?? reports[0];
    if (!focus) throw new Error('verifyAll: no report');
    return {
      ...focus,
      valid: reports.every((r) => r.valid),
      eventsChecked: reports.reduce((a, r) => a + r.eventsChecked, 0),
      durationMs: Math.round(performance.now() - t0),
      reports,
    };
  }

  async health(): Promise<StoreHealth> {
    return this.o.store.health();
  }

  /** Stops taking requests and answers the queued ones (the store is closed by its owner). */
  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.drain()));
  }

  /**
   * Releases timed-out reservations (reason `expired`) unless they changed after `cutoff`;
   * answers how many were released. Refusals (already released, confirmed, changed) are expected
   * when another instance got there first; any other refusal (no quorum, the committing instance
   * failed the commit) rejects, so the caller tries the same numbers again.
   */
  async expire(series: string, records: readonly NumberRecord[], cutoff: number, timeoutMs: number): Promise<ExpiryResult> {
    const worker = this.worker(series);
    const outcomes = await Promise.all(
      records.map((r) =>
        worker.submit({
          kind: 'release',
          sequenceNumber: r.number,
          siteId: r.siteId,
          partitionId: r.partitionId,
          reason: 'expired',
          ifUnchangedSince: cutoff,
          // Due by the series' clock at the commit, not only by this instance's clock.
          heldAtLeastMs: timeoutMs,
          // Only the allocation the sweep saw: never one that took the number since.
          allocation: r.grant === 0 ? undefined : { first: r.grant, last: r.grant },
          actor: SYSTEM_ACTORS.expiry,
        }),
      ),
    );
    // Only the planner's answers about the number itself settle it. A commit that failed on the
    // instance the batch was forwarded to comes back as a refusal too (no quorum, a series stopped
    // for a state check, ...): that is a failed pass, and the sweep looks at the same numbers again.
    for (const { outcome } of outcomes) if (!outcome.ok && !EXPIRY_SETTLED.has(outcome.error.code)) throw outcome.error;
    const released = outcomes.filter((o) => o.outcome.ok && o.outcome.kind === 'release' && !o.outcome.alreadyReleased).length;
    const notYetDue = records.filter((_, i) => {
      const o = outcomes[i]?.outcome;
      return o !== undefined && !o.ok && o.error.details?.['notYetDue'] === true;
    });
    return { released, notYetDue };
  }

  /** Commits ops another instance forwarded here; one result per op, in op order. */
  async commitForwarded(series: string, ops: readonly Op[]): Promise<{ outcome: WireOutcome; committedAt: number }[]> {
    const worker = this.worker(series);
    return Promise.all(
      ops.map((op) =>
        worker.submit(op, true).then(
          (r) => ({ outcome: encodeOutcome(r.outcome), committedAt: r.committedAt }),
          (error: unknown) => {
            const e = error instanceof SeqdError ? error : new StoreUnavailableError(`commit failed: ${String(error)}`);
            return { outcome: encodeOutcome({ ok: false, error: e }), committedAt: this.now() };
          },
        ),
      ),
    );
  }

  /**
   * Releases, as `undelivered`, the numbers of forwarded allocations whose sender hung up before
   * the answer reached it (it answered its clients OUTCOME_UNKNOWN). Answers how many.
   */
  async releaseUndelivered(series: string, ops: readonly Op[], results: readonly { outcome: WireOutcome }[]): Promise<number> {
    const releases = undeliveredReleases(
      ops,
      results.map((r) => r.outcome),
    );
    const worker = this.worker(series);
    const done = await Promise.all(releases.map((op) => worker.submit(op, true)));
    return done.filter((r) => r.outcome.ok && r.outcome.kind === 'release' && !r.outcome.alreadyReleased).length;
  }

  /** Refuses unknown sites and partitions, naming the allowed values. */
  checkHolder(siteId: string, partitionId: string): void {
    const partitions = this.sites.get(siteId);
    if (!partitions) {
      throw new ValidationError(`unknown siteId "${siteId}"`, { field: 'siteId', allowed: [...this.sites.keys()] });
    }
    if (!partitions.has(partitionId)) {
      throw new ValidationError(`unknown partitionId "${partitionId}" for site "${siteId}"`, {
        field: 'partitionId',
        allowed: [...partitions],
      });
    }
  }

  private worker(series: string): SeriesWorker {
    let w = this.workers.get(series);
    if (!w) {
      // A worker per series ever touched would grow with years × sites × types: idle ones go
      // (their state is in the store; a worker is made again on the next request).
      if (this.workers.size >= MAX_IDLE_WORKERS) {
        for (const [name, other] of this.workers) if (other.disposable) this.workers.delete(name);
      }
      w = new SeriesWorker({
        series,
        start: this.o.start,
        store: this.o.store,
        node: this.o.node,
        gapPolicy: this.gapPolicy,
        settings: () => this.settings,
        onSettings: (s) => {
          this.settingsGeneration++;
          this.settings = { ...s };
          this.events.emit('settings', this.currentSettings);
        },
        onCommit: (plan, ops, commitMs) => {
          this.o.observer?.committed(ops.length, commitMs / 1000);
          this.onCommit(series, plan);
        },
        onConflict: () => this.o.observer?.conflicted(),
        onPhase: (phase, ms) => this.o.observer?.phase(phase, ms / 1000),
        onResolved: (r) => this.events.emit('resolved', { series, ...r }),
        onResolveError: (error) => this.events.emit('resolveFailed', series, error),
        onStateMismatch: (problem) => {
          if (problem === null) this.mismatched.delete(series);
          else this.mismatched.set(series, problem);
          this.events.emit('stateMismatch', series, problem);
        },
        now: this.now,
        stampFloor: this.stampFloor,
        requestWindowMs: this.o.requestWindowMs,
        forwarder: this.o.forwarder,
        // Known to exist once loaded, not before: a first load that failed created nothing, and
        // a read must not take the series for existing (and create it) meanwhile.
        onLoaded: () => this.directory.noteExists(series),
        raiseEmptyStart: (this.o.moveEmptyStarts ?? false) && !isInternalSeries(series),
        onStartRaised: (from, to) => this.startsMoved.push(`${series}: ${from} → ${to}`),
      });
      this.workers.set(series, w);
    }
    return w;
  }

  private onCommit(series: string, plan: BatchPlan): void {
    if (this.events.listenerCount('batch') === 0 || !plan.commit) return;
    let numbers = 0;
    for (const o of plan.outcomes) if (o.ok && o.kind === 'allocate') numbers += o.numbers.length;
    this.events.emit('batch', {
      series,
      requests: plan.outcomes.length,
      numbers,
      events: plan.commit.events.length,
      hwm: plan.commit.next.hwm,
    });
  }
}

/** The token of the allocation an act touched; none for a number recorded before allocations were tracked. */
function allocationOf(series: string, grant: number): { allocation?: string } {
  return grant === 0 ? {} : { allocation: formatAllocationToken(series, { first: grant, last: grant }) };
}

function expect<K extends Op['kind']>(
  outcome: Outcome,
  kind: K,
): Extract<Outcome, { ok: true; kind: K }> {
  if (!outcome.ok) throw outcome.error;
  if (outcome.kind !== kind) throw new Error(`expected a ${kind} outcome, got ${outcome.kind}`);
  return outcome as Extract<Outcome, { ok: true; kind: K }>;
}
