/**
 * Which series (counter) a request numbers from: one global series, or one per combination of
 * the configured dimensions, optionally one per period (year or month in a time zone). Pure: the
 * caller passes the clock reading.
 *
 * Series names: the dimension values joined with `:` (`site-1:partition-a`), `global` without
 * dimensions, and `@<period>` appended with a rollover (`global@2026`, `site-1@2026-03`). Site
 * and partition ids cannot contain `:`, `@` or `/`, so names never collide and stay safe in keys.
 */

export const SERIES_DIMENSIONS = ['site', 'partition', 'invoice-type'] as const;
export type SeriesDimension = (typeof SERIES_DIMENSIONS)[number];

export const ROLLOVER_PERIODS = ['yearly', 'monthly'] as const;
export type RolloverPeriod = (typeof ROLLOVER_PERIODS)[number];

export interface Rollover {
  readonly period: RolloverPeriod;
  /** IANA time zone whose midnight starts a period. */
  readonly timeZone: string;
}

export interface SeriesStrategy {
  /** Dimensions that split the numbering, in this order in names; empty: one global series. */
  readonly splitBy: readonly SeriesDimension[];
  /** A new series per period, or null for series that never end. */
  readonly rollover: Rollover | null;
}

export const GLOBAL_SERIES = 'global';
/**
 * Series whose trail records the settings toggles when the numbering is split or rolls over (a
 * name no request can map to: ids start with a letter or digit). With one global series that
 * never ends, the toggles stay in its trail, as they always were.
 */
export const CONTROL_SERIES = '_settings';

export const PLAIN_STRATEGY: SeriesStrategy = { splitBy: [], rollover: null };

export interface SeriesKey {
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: string;
}

/** The series name without its period: `global` or the dimension values joined with `:`. */
export function seriesBase(strategy: SeriesStrategy, key: SeriesKey): string {
  if (strategy.splitBy.length === 0) return GLOBAL_SERIES;
  return strategy.splitBy
    .map((d) => (d === 'site' ? key.siteId : d === 'partition' ? key.partitionId : key.invoiceType))
    .join(':');
}

/** The request field each dimension takes its value from. */
const FIELD_OF: Readonly<Record<SeriesDimension, keyof SeriesKey>> = { site: 'siteId', partition: 'partitionId', 'invoice-type': 'invoiceType' };

/**
 * The inverse of {@link seriesBase}: which site, partition and invoice type a series name stands
 * for under `strategy` (only the dimensions it splits by), in split-by order. Null when the name
 * cannot have been made by it (another number of parts: `global`, or a series named under an
 * earlier split); callers then check nothing.
 */
export function seriesKeyOf(strategy: SeriesStrategy, name: string): { field: keyof SeriesKey; value: string }[] | null {
  if (strategy.splitBy.length === 0) return null;
  const parts = parseSeriesName(name).base.split(':');
  if (parts.length !== strategy.splitBy.length) return null;
  return strategy.splitBy.map((d, i) => ({ field: FIELD_OF[d], value: parts[i] ?? '' }));
}

/**
 * Year and month per time zone for the last minute asked about. Every zone's midnight falls on a
 * whole minute (offsets are multiples of 15 minutes), so one formatting per minute is exact; it
 * keeps Intl off the allocation path.
 */
const lastMinute = new Map<string, { minute: number; year: string; month: string; format: Intl.DateTimeFormat }>();

/** The period `at` (epoch ms) falls in: `2026` (yearly) or `2026-03` (monthly), in the time zone. */
export function periodOf(rollover: Rollover, at: number): string {
  const minute = Math.floor(at / 60_000);
  let c = lastMinute.get(rollover.timeZone);
  if (!c || c.minute !== minute) {
    const format = c?.format ?? new Intl.DateTimeFormat('en-CA', { timeZone: rollover.timeZone, year: 'numeric', month: '2-digit' });
    const parts = format.formatToParts(at);
    c = {
      minute,
      format,
      year: parts.find((p) => p.type === 'year')?.value ?? '',
      month: parts.find((p) => p.type === 'month')?.value ?? '',
    };
    lastMinute.set(rollover.timeZone, c);
  }
  return rollover.period === 'yearly' ? c.year : `${c.year}-${c.month}`;
}

/**
 * When the period after the one `at` falls in starts (epoch ms, on a whole minute): found by
 * bisection over minutes with its own formatter (not on the allocation path: callers cache it).
 */
export function nextPeriodStart(rollover: Rollover, at: number): number {
  const format = new Intl.DateTimeFormat('en-CA', { timeZone: rollover.timeZone, year: 'numeric', month: '2-digit' });
  const of = (t: number) => {
    const parts = format.formatToParts(t);
    const year = parts.find((p) => p.type === 'year')?.value ?? '';
    return rollover.period === 'yearly' ? year : `${year}-${parts.find((p) => p.type === 'month')?.value ?? ''}`;
  };
  const now = of(at);
  let lo = Math.floor(at / 60_000);
  let hi = lo + (rollover.period === 'yearly' ? 367 : 32) * 1440;
  while (lo + 1 < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (of(mid * 60_000) === now) lo = mid;
    else hi = mid;
  }
  return hi * 60_000;
}

/** The period after `period` (`2026` → `2027`, `2026-12` → `2027-01`). */
export function nextPeriod(period: string): string {
  const [y = 0, m] = period.split('-').map(Number);
  if (m === undefined) return String(y + 1);
  return m >= 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

/** The period before `period` (`2027` → `2026`, `2027-01` → `2026-12`). */
export function previousPeriod(period: string): string {
  const [y = 0, m] = period.split('-').map(Number);
  if (m === undefined) return String(y - 1);
  return m <= 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}

/** The series a request made at `at` numbers from. */
export function seriesFor(strategy: SeriesStrategy, key: SeriesKey, at: number): string {
  const base = seriesBase(strategy, key);
  return strategy.rollover ? `${base}@${periodOf(strategy.rollover, at)}` : base;
}

/** Splits a series name into its base and period (null when it has none). */
export function parseSeriesName(name: string): { base: string; period: string | null } {
  const at = name.lastIndexOf('@');
  return at < 0 ? { base: name, period: null } : { base: name.slice(0, at), period: name.slice(at + 1) };
}

/** Periods compare as strings (`2026` < `2027`, `2026-09` < `2026-10`). */
export function periodEnded(rollover: Rollover, period: string, at: number): boolean {
  return periodOf(rollover, at) > period;
}

/** The series whose trail records settings toggles under this strategy. */
export function controlSeries(strategy: SeriesStrategy): string {
  return strategy.splitBy.length === 0 && !strategy.rollover ? GLOBAL_SERIES : CONTROL_SERIES;
}

/** Whether a series name is internal (not a numbering series): hidden from series lists. */
export function isInternalSeries(name: string): boolean {
  return name.startsWith('_');
}
