import { SeriesAmbiguousError, SeriesNotFoundError, ValidationError } from '../domain/errors/index.js';
import type { NumberFormat } from '../domain/number-format.js';
import { profileOf, type FormerNumbering, type NumberingProfile } from '../domain/numbering-profile.js';
import { printedTextOf, type NumberFormatter } from '../domain/printed-text.js';
import {
  controlSeries,
  isInternalSeries,
  nextPeriodStart,
  parseSeriesName,
  periodOf,
  previousPeriod,
  seriesBase,
  seriesFor,
  type SeriesKey,
  type SeriesStrategy,
} from '../domain/series-strategy.js';
import type { SequenceStore } from '../storage/sequence-store.js';

export interface SeriesDirectoryOptions {
  readonly strategy: SeriesStrategy;
  readonly store: SequenceStore;
  /** The first configured site and partition: the holder whose series is the default view. */
  readonly defaultKey: SeriesKey;
  /** Format of every series (absent: numbers are not formatted). */
  readonly format?: NumberFormat | undefined;
  /** Formats by series base name (`site-1`, `global`), overriding `format`. */
  readonly formats?: ReadonlyMap<string, NumberFormat> | undefined;
  /** The store's former numberings: numbers committed under one print as it printed them. */
  readonly formerNumbering?: readonly FormerNumbering[] | undefined;
  /** The configured first number (`global-counter-start`): a series a read loads, and so may create, starts there. */
  readonly start: number;
}

/** A series closed less than this long ago still counts when a release names no series. */
const RECENTLY_CLOSED_MS = 24 * 3600_000;

/** Most names listed in a "series not found" error. */
const LISTED = 50;

/**
 * How far apart instance clocks may be around a period change while keeping real-time order
 * across periods (see `SeriesDirectory.startedLater`).
 */
export const PERIOD_SKEW_MS = 60_000;

/**
 * Knows which series a request belongs to and which series exist. Series are never deleted, so
 * a name once seen stays known; an unknown name is looked up in the store before it is refused
 * (another instance may have created it).
 */
export class SeriesDirectory {
  private readonly known = new Set<string>();
  /** When the store's series list was last read (refreshes for unknown names are throttled). */
  private listedAt = 0;
  private readonly formatters = new Map<string, NumberFormatter | null>();
  /** The configured numbering. */
  private readonly profile: NumberingProfile;

  constructor(private readonly o: SeriesDirectoryOptions) {
    this.profile = profileOf(o.strategy, o.format, o.formats ?? new Map());
  }

  get strategy(): SeriesStrategy {
    return this.o.strategy;
  }

  /** Where settings toggles are audited. */
  get control(): string {
    return controlSeries(this.o.strategy);
  }

  /** The series an allocation made at `at` numbers from. */
  forAllocation(key: SeriesKey, at: number): string {
    return seriesFor(this.o.strategy, key, at);
  }

  /**
   * The series of the next period when `at` is within {@link PERIOD_SKEW_MS} of its start and it
   * already exists: another instance, whose clock is ahead, has started it. Allocations then go
   * there, so that a request sent after another was answered from the new period never numbers
   * from the old one. The existence check reads the store, but only near a period's end, until
   * the series exists; concurrent requests share checks, and each waits for one that began after
   * it arrived (an earlier check might have missed a series started before the request).
   */
  async startedLater(key: SeriesKey, at: number): Promise<string | null> {
    const rollover = this.o.strategy.rollover;
    if (!rollover) return null;
    if (!this.boundary || at < this.boundary.from || at >= this.boundary.until) {
      const until = nextPeriodStart(rollover, at);
      this.boundary = { from: at, until, next: periodOf(rollover, until) };
    }
    if (at < this.boundary.until - PERIOD_SKEW_MS) return null;
    const name = `${seriesBase(this.o.strategy, key)}@${this.boundary.next}`;
    if (this.known.has(name)) return name;
    return (await this.existsCheck(name)) ? name : null;
  }

  /** The period end near which `startedLater` looks ahead, cached per period. */
  private boundary: { from: number; until: number; next: string } | null = null;
  private readonly checks = new Map<string, { running: Promise<boolean> | null; queued: Promise<boolean> | null }>();

  /** Whether `name` exists, by a store read that began after this call (shared with concurrent calls). */
  private existsCheck(name: string): Promise<boolean> {
    let c = this.checks.get(name);
    if (!c) {
      c = { running: null, queued: null };
      this.checks.set(name, c);
    }
    const state = c;
    if (!state.running) {
      state.running = this.o.store.seriesVersion(name).then(
        (v) => {
          state.running = null;
          if (v !== null) {
            this.known.add(name);
            this.checks.delete(name);
          }
          return v !== null;
        },
        (error: unknown) => {
          state.running = null;
          throw error;
        },
      );
      return state.running;
    }
    // The running read began before this call: wait for the next one.
    state.queued ??= state.running.catch(() => false).then(() => {
      state.queued = null;
      return this.known.has(name) || this.existsCheck(name);
    });
    return state.queued;
  }

  /** The series reads use when the request names none: the first site's, in the current period. */
  defaultSeries(at: number): string {
    return seriesFor(this.o.strategy, this.o.defaultKey, at);
  }

  /**
   * The series a release or confirm acts on: the one named, or the one the holder's requests
   * number from now. Refuses (404) a series that does not exist, so a bad request creates nothing.
   */
  async forHeldNumber(
    req: { sequenceNumber: number; series?: string | undefined; siteId: string; partitionId: string; invoiceType?: string | undefined },
    at: number,
  ): Promise<string> {
    if (req.series !== undefined) {
      await this.requireExisting(req.series);
      return req.series;
    }
    if (this.o.strategy.splitBy.includes('invoice-type') && req.invoiceType === undefined) {
      throw new ValidationError('series are split by invoice type: name the "series" (as returned by next) or the "invoiceType"', {
        field: 'series',
      });
    }
    const name = seriesFor(this.o.strategy, { siteId: req.siteId, partitionId: req.partitionId, invoiceType: req.invoiceType ?? '' }, at);
    const holding = await this.recentHolders(name, req.sequenceNumber, at);
    if (holding.length > 1) {
      throw new SeriesAmbiguousError(`number ${req.sequenceNumber} is held in ${holding.join(' and ')}: name the "series" (or pass the allocation)`, {
        field: 'series',
        allowed: holding,
      });
    }
    const chosen = holding[0] ?? name;
    await this.requireExisting(chosen);
    return chosen;
  }

  /**
   * Of the holder's current series and the one of the period before (while open, or closed less
   * than a day ago), those that have issued `n`. Right after a period change both may hold it.
   */
  private async recentHolders(current: string, n: number, at: number): Promise<string[]> {
    const { base, period } = parseSeriesName(current);
    if (period === null) return [];
    const previous = `${base}@${previousPeriod(period)}`;
    if (!this.known.has(previous) && (await this.o.store.seriesVersion(previous)) === null) return [];
    this.known.add(previous);
    const out: string[] = [];
    for (const name of [previous, current]) {
      if (!this.known.has(name) && (await this.o.store.seriesVersion(name)) === null) continue;
      const s = await this.o.store.loadSeries(name, this.o.start);
      const recent = s.closedAt === null || at - s.closedAt < RECENTLY_CLOSED_MS;
      if (recent && n >= s.start && n <= s.hwm) out.push(name);
    }
    return out;
  }

  /** Throws {@link SeriesNotFoundError} (404, naming existing series) unless `name` exists. */
  async requireExisting(name: string): Promise<void> {
    if (this.known.has(name)) return;
    const names = await this.refresh();
    if (this.known.has(name)) return;
    const visible = names.filter((n) => !isInternalSeries(n)).sort();
    throw new SeriesNotFoundError(`series "${name}" does not exist (yet): no number was ever issued in it`, {
      field: 'series',
      allowed: visible.slice(0, LISTED),
      details: visible.length > LISTED ? { moreSeries: visible.length - LISTED } : undefined,
    });
  }

  /** Whether the series is known to exist (no store read). */
  isKnown(name: string): boolean {
    return this.known.has(name);
  }

  private async refresh(): Promise<string[]> {
    const names = await this.o.store.listSeries();
    this.listedAt = Date.now();
    for (const n of names) this.known.add(n);
    return names;
  }

  /** Records that a series exists (it was loaded or created). */
  noteExists(name: string): void {
    this.known.add(name);
  }

  /**
   * Formats a number of `series` committed at `at` as it was printed then: with the numbering in
   * force at that time (see `printed-text.ts`), the series' values for `{site}`, `{partition}`,
   * `{type}`; year and month of a series with a period are the period's (a number of 2026 stays
   * `…-2026-…` when it is committed just after midnight).
   */
  formatterOf(series: string): NumberFormatter | null {
    let f = this.formatters.get(series);
    if (f === undefined) {
      f = printedTextOf(series, this.profile, this.o.formerNumbering);
      this.formatters.set(series, f);
    }
    return f;
  }
}
