/**
 * The check that no configured series prints a number that a stored series already printed.
 * Pure; run at start-up and by `seqd change-numbering`.
 *
 * `format-uniqueness.ts` keeps the configured series apart from each other. This adds what the
 * store printed under earlier configurations: a site renamed while the format does not print the
 * site starts a new series at the counter start under the old site's frame; a global series split
 * by site, or a series that starts to roll over, starts again under the frame it printed.
 *
 * What a stored series printed is known concretely: the frame of its format with its token values,
 * in the years it can have printed (its period's year; without a period, up to the next year),
 * so each printed frame is compared as text with every configured frame that could render it.
 */
import type { FormatProblem, SeriesFormat } from './format-uniqueness.js';
import { CHECKED_YEARS } from './format-uniqueness.js';
import { digitsOf, DIMENSION_TOKEN, frameOf, prefixTokens, renderFrame, seriesValuesOf, type FramePart, type NumberFormat, type SeriesValues } from './number-format.js';
import { canonical, formatOf, seriesFits, type NumberingProfile } from './numbering-profile.js';
import { parseSeriesName } from './series-strategy.js';

/** A stored series and the highest number it issued (null: not loaded, it may have issued). */
export interface IssuedSeries {
  readonly series: string;
  readonly hwm: number | null;
}

/** How a stored series printed under one profile of the store's history. */
export interface PrintedFormat {
  readonly series: string;
  readonly hwm: number | null;
  readonly base: string;
  readonly values: SeriesValues;
  /** The configuration key it printed by (under that profile). */
  readonly key: string;
  readonly format: NumberFormat;
  /** The configuration numbers this series further (under another format): never compared with its own base. */
  readonly continued: boolean;
  /** The years it can have printed, and the month when its period fixes it. */
  readonly years: { readonly from: number; readonly to: number };
  readonly month: string | null;
}

const MONTHS = Array.from({ length: 12 }, (_, i) => String(i + 1).padStart(2, '0'));

/** How far a time zone's clock can be ahead of or behind UTC (UTC+14, UTC-12, with margin). */
const ZONE_SPREAD_MS = 14 * 3_600_000;

/**
 * How the stored series in `issued` printed, under each profile of the store's `history` (oldest
 * first, the stored profile last) whose strategy can produce their names. A series the `current`
 * profile numbers further with the format it printed with is left out (the check of the
 * configured series covers it); `configuredBases` are all bases a request can map to.
 */
export function printedFormats(
  history: readonly NumberingProfile[],
  current: NumberingProfile,
  configuredBases: ReadonlySet<string>,
  issued: readonly IssuedSeries[],
  now: number,
): PrintedFormat[] {
  const out = new Map<string, PrintedFormat>();
  // The latest year any time zone has reached: a stored series printed no year after it.
  const lastYear = new Date(now + ZONE_SPREAD_MS).getUTCFullYear();
  for (const { series, hwm } of issued) {
    const { base, period } = parseSeriesName(series);
    const continued = seriesFits(current.strategy, series) && configuredBases.has(base);
    for (const profile of history) {
      if (!seriesFits(profile.strategy, series)) continue;
      const format = formatOf(profile, base);
      if (!format) continue;
      if (continued && canonical(format) === canonical(formatOf(current, base))) continue;
      const key = profile.formats[base] ? `sequence.series.formats.${base}` : 'sequence.format';
      const values = seriesValuesOf(profile.strategy.splitBy, base);
      const id = `${continued}|${base}|${period ?? ''}|${canonical(values)}|${canonical(format)}`;
      if (out.has(id)) continue;
      // A rolling series prints its period's year (and month, when monthly), whatever the clock.
      const year = period === null ? null : Number(period.slice(0, 4));
      const years = year === null ? { from: CHECKED_YEARS.from, to: lastYear } : { from: year, to: year };
      const month = period !== null && period.length > 4 ? period.slice(5, 7) : null;
      out.set(id, { series, hwm, base, values, key, format, continued, years, month });
    }
  }
  return [...out.values()];
}

/**
 * The first configured series that could print a number a stored series printed, or null. A
 * configured series prints from `now` on: no year before the earliest one any zone is in.
 */
export function printedAgainProblem(configured: readonly SeriesFormat[], printed: readonly PrintedFormat[], now: number): FormatProblem | null {
  const frames = configured.map((c) => ({ c, frame: frameOf(c.format, c.values) }));
  const years = { from: new Date(now - ZONE_SPREAD_MS).getUTCFullYear(), to: CHECKED_YEARS.to };
  for (const p of printed) {
    for (const text of printedFrames(p)) {
      for (const { c, frame } of frames) {
        if (p.continued && p.base === c.base) continue;
        const match = rendersAs(frame, text, years);
        if (match) return problemOf(c, p, text, match);
      }
    }
  }
  return null;
}

function printedFrames(p: PrintedFormat): Set<string> {
  const frame = frameOf(p.format, p.values);
  const hasYear = frame.some((x) => 'time' in x && x.time === 'yyyy');
  const hasMonth = frame.some((x) => 'time' in x && x.time === 'mm');
  const out = new Set<string>();
  // The latest first: the example a message shows.
  for (let y = p.years.to; y >= (hasYear ? p.years.from : p.years.to); y--) {
    for (const month of hasMonth ? (p.month ? [p.month] : MONTHS) : ['']) out.add(renderFrame(frame, String(y), month));
  }
  return out;
}

/**
 * Whether a configured frame renders `text` in one of `years` and some month (`exact`), or a text
 * that runs into the other's number: one frame is the other followed by digits only (`run-in`),
 * so frame + number of the one can read as frame + number of the other.
 */
function rendersAs(frame: readonly FramePart[], text: string, years: { readonly from: number; readonly to: number }): 'exact' | 'run-in' | null {
  let at = 0;
  for (let i = 0; i < frame.length; i++) {
    const part = frame[i];
    if (!part) break;
    const width = 'text' in part ? part.text.length : part.time === 'yyyy' ? 4 : 2;
    const piece = text.slice(at, at + width);
    if (piece.length < width) {
      // The text ends inside this part: it runs into the number only if the rest of the frame is digits.
      const rest = 'text' in part ? (piece === part.text.slice(0, piece.length) ? part.text.slice(piece.length) : null) : /^\d*$/.test(piece) ? '' : null;
      const later = frame.slice(i + 1).every((x) => 'time' in x || /^\d*$/.test(x.text));
      return rest !== null && /^\d*$/.test(rest) && later ? 'run-in' : null;
    }
    if ('text' in part ? piece !== part.text : !/^\d+$/.test(piece) || !validTime(part.time, piece, years)) return null;
    at += width;
  }
  if (at === text.length) return 'exact';
  return /^\d+$/.test(text.slice(at)) ? 'run-in' : null;
}

function validTime(time: 'yyyy' | 'mm', digits: string, years: { readonly from: number; readonly to: number }): boolean {
  const n = Number(digits);
  return time === 'yyyy' ? n >= years.from && n <= years.to : n >= 1 && n <= 12;
}

function problemOf(c: SeriesFormat, p: PrintedFormat, text: string, match: 'exact' | 'run-in'): FormatProblem {
  const missing = Object.values(DIMENSION_TOKEN).filter((t) => c.values[t] !== undefined && c.values[t] !== p.values[t] && !prefixTokens(c.format.prefix).has(t));
  const prefix = c.format.prefix;
  const hint = missing.length
    ? `put ${missing.map((t) => `{${t}}`).join(' and ')} in ${c.key}.prefix, e.g. "${prefix}${prefix ? '-' : ''}${missing.map((t) => `{${t}}`).join('-')}"`
    : `give ${c.key}.prefix a text that "${p.series}" did not print`;
  const what = match === 'exact' ? `numbers such as "${text}${digitsOf(1, p.format.padding)}"` : `numbers that read like those "${p.series}" printed after "${text}" (a frame ending in digits runs into the number)`;
  const upTo = p.hwm === null ? '' : `up to number ${p.hwm}, `;
  const why = p.continued
    ? `before its format changed (${p.key})`
    : `by ${p.key}, and this configuration numbers "${p.series}" no further (a site, partition or type was renamed or removed, or the numbering changed)`;
  return {
    key: `${c.key}.prefix`,
    message: `series "${c.base}" would print ${what} that series "${p.series}" of this store already printed (${upTo}after the frame "${text}") ${why}: ${hint}, or keep the old configuration`,
  };
}
