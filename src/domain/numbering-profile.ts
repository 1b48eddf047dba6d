import type { NumberFormat } from './number-format.js';
import { parseSeriesName, type SeriesStrategy } from './series-strategy.js';

/** Key of the default format (`sequence.format`) in {@link NumberingProfile.formats}. */
export const DEFAULT_FORMAT = '*';

/**
 * What decides the numbers a store holds: which series requests map to and how their numbers
 * print. A store remembers the profile it numbers under; starting it under a different one would
 * restart numbering in new series (or print the next number differently) without a trace, so it
 * is refused until `seqd change-numbering` records the change in the audit trail.
 */
export interface NumberingProfile {
  readonly strategy: SeriesStrategy;
  /** Formats by series base, the default under {@link DEFAULT_FORMAT}; none: `formatted` not shown. */
  readonly formats: Readonly<Record<string, NumberFormat>>;
}

/** A numbering a store had before its current one. */
export interface FormerNumbering extends NumberingProfile {
  /**
   * Epoch ms from which the next numbering printed, set by `seqd change-numbering`: later than
   * the stamp of every event stored then, and no instance stamps an event earlier afterwards.
   * Absent for a numbering replaced at a start (it printed nothing differently for any series that
   * had issued) and in stores from before it was recorded.
   */
  readonly replacedAt?: number | undefined;
}

/** The profile of a series strategy, a default format and formats by base. */
export function profileOf(strategy: SeriesStrategy, format: NumberFormat | undefined, formats: ReadonlyMap<string, NumberFormat>): NumberingProfile {
  return { strategy, formats: { ...(format ? { [DEFAULT_FORMAT]: format } : {}), ...Object.fromEntries(formats) } };
}

/** One difference between the stored and the configured profile. */
export interface NumberingChange {
  /** The configuration key that differs, e.g. `sequence.series.split-by`. */
  readonly key: string;
  readonly was: string;
  readonly now: string;
  /**
   * `series`: requests map to other series (old ones must be closed, new ones start at the
   * counter start); `format`: numbers of a series that already issued print differently;
   * `zone`: the periods of rolling series begin at another midnight.
   */
  readonly kind: 'series' | 'format' | 'zone';
}

/** The format a series base prints with under a profile (null: not shown). */
export function formatOf(profile: NumberingProfile, base: string): NumberFormat | null {
  return profile.formats[base] ?? profile.formats[DEFAULT_FORMAT] ?? null;
}

/**
 * The differences that matter for a store whose series with issued numbers are `issuedSeries`:
 * any change of series mapping or rollover zone, and a format change only for a base that already
 * printed numbers (a format for series that never issued changes nothing printed). A base that
 * printed under a format of its own and is no longer configured counts too: its removal is
 * recorded (`seqd change-numbering`), so that it cannot come back under another format unseen.
 */
export function numberingChanges(stored: NumberingProfile, current: NumberingProfile, issuedSeries: readonly string[]): NumberingChange[] {
  const changes: NumberingChange[] = [];
  const a = stored.strategy;
  const b = current.strategy;
  if (a.splitBy.join(',') !== b.splitBy.join(',')) {
    changes.push({ key: 'sequence.series.split-by', was: `[${a.splitBy.join(', ')}]`, now: `[${b.splitBy.join(', ')}]`, kind: 'series' });
  }
  if ((a.rollover?.period ?? null) !== (b.rollover?.period ?? null)) {
    changes.push({ key: 'sequence.series.rollover', was: rolloverText(a), now: rolloverText(b), kind: 'series' });
  } else if (a.rollover && b.rollover && a.rollover.timeZone !== b.rollover.timeZone) {
    changes.push({ key: 'sequence.series.rollover.time-zone', was: a.rollover.timeZone, now: b.rollover.timeZone, kind: 'zone' });
  }
  const bases = new Set(issuedSeries.map((s) => parseSeriesName(s).base));
  for (const base of [...bases].sort()) {
    const was = formatOf(stored, base);
    const now = formatOf(current, base);
    if (canonical(was) === canonical(now)) continue;
    const key = current.formats[base] || stored.formats[base] ? `sequence.series.formats.${base}` : 'sequence.format';
    if (changes.some((c) => c.key === key)) continue;
    changes.push({ key, was: formatText(was), now: formatText(now), kind: 'format' });
  }
  return changes;
}

function rolloverText(s: SeriesStrategy): string {
  return s.rollover ? `${s.rollover.period} (${s.rollover.timeZone})` : 'none';
}

function formatText(f: NumberFormat | null): string {
  return f ? canonical(f) : 'none';
}

/** JSON with sorted keys: two equal formats always give the same text. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}

/**
 * Whether a series name can come from `strategy` (used for stores that predate the stored
 * profile): its base has one part per dimension, and it has a period exactly when the strategy
 * rolls over, of the right shape.
 */
export function seriesFits(strategy: SeriesStrategy, name: string): boolean {
  const { base, period } = parseSeriesName(name);
  const parts = base === 'global' ? 0 : base.split(':').length;
  if (parts !== strategy.splitBy.length) return false;
  if (!strategy.rollover) return period === null;
  if (period === null) return false;
  return strategy.rollover.period === 'yearly' ? /^\d{4}$/.test(period) : /^\d{4}-\d{2}$/.test(period);
}
