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
 * in the years (and months) it can have printed: its period's, or up to its last event. Each such
 * frame is compared as text with the configured frames that could render it from now on.
 */
import type { FormatProblem, SeriesFormat } from './format-uniqueness.js';
import { CHECKED_YEARS } from './format-uniqueness.js';
import { digitsOf, DIMENSION_TOKEN, frameOf, prefixTokens, renderFrame, seriesValuesOf, type FramePart, type NumberFormat, type SeriesValues } from './number-format.js';
import { canonical, formatOf, seriesFits, type NumberingProfile } from './numbering-profile.js';
import { parseSeriesName } from './series-strategy.js';

/** A stored series that issued numbers. */
export interface IssuedSeries {
  readonly series: string;
  /** The highest number it issued (null: not loaded, it may have issued). */
  readonly hwm: number | null;
  /** Epoch ms of its last event (null: not known). */
  readonly lastEventAt: number | null;
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

/** How far the clocks of a store's instances may be apart: a year or month is taken that much early and late. */
const CLOCK_MARGIN_MS = 3_600_000;

/** Year and month (`01`…`12`) of `at` in `timeZone`. */
function calendarOf(at: number, timeZone: string): { year: number; month: string } {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit' }).formatToParts(at);
  return { year: Number(parts.find((p) => p.type === 'year')?.value), month: parts.find((p) => p.type === 'month')?.value ?? '01' };
}

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
  for (const { series, hwm, lastEventAt } of issued) {
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
      // A rolling series prints its period's year (and month, when monthly), whatever the clock;
      // another, the years of its commits: none after its last event (not known, or 0 in a store
      // from before it was kept: up to now).
      const year = period === null ? null : Number(period.slice(0, 4));
      const last = calendarOf(Math.min(lastEventAt || now, now) + CLOCK_MARGIN_MS, format.timeZone).year;
      const years = year === null ? { from: CHECKED_YEARS.from, to: last } : { from: year, to: year };
      const month = period !== null && period.length > 4 ? period.slice(5, 7) : null;
      out.set(id, { series, hwm, base, values, key, format, continued, years, month });
    }
  }
  return [...out.values()];
}

/** A configured series with what it can print from now on. */
interface Candidate {
  readonly c: SeriesFormat;
  readonly frame: readonly FramePart[];
  /** The fixed text its frame begins with. */
  readonly lead: string;
  /** The earliest year and month it can print (its zone's, and the rollover's). */
  readonly earliest: { readonly year: number; readonly month: string };
}

/**
 * The first configured series that could print a number a stored series printed, or null. A
 * configured series prints what it commits from now on, and what a retried request committed
 * within the idempotency window before it (an answer again, formatted at its commit time): from
 * `since` on, in its format's zone and the rollover's (`rolloverZone`).
 */
export function printedAgainProblem(
  configured: readonly SeriesFormat[],
  printed: readonly PrintedFormat[],
  since: number,
  rolloverZone: string | null,
): FormatProblem | null {
  if (printed.length === 0) return null;
  const index = new CandidateIndex(
    configured.map((c) => {
      const frame = frameOf(c.format, c.values);
      const first = frame[0];
      const zones = [c.format.timeZone, ...(rolloverZone ? [rolloverZone] : [])].map((z) => calendarOf(since - CLOCK_MARGIN_MS, z));
      const earliest = zones.reduce((a, b) => (a.year < b.year || (a.year === b.year && a.month <= b.month) ? a : b));
      return { c, frame, lead: first && 'text' in first ? first.text : '', earliest };
    }),
  );
  for (const p of printed) {
    for (const text of printedFrames(p)) {
      for (const k of index.candidates(text)) {
        if (p.continued && p.base === k.c.base) continue;
        const match = rendersAs(k.frame, text, k.earliest);
        if (match) return problemOf(k.c, p, text, match);
      }
    }
  }
  return null;
}

/**
 * Configured frames by the fixed text they begin with: a frame can render a text, or run into it,
 * only if one of the two begins with the other's leading text.
 */
class CandidateIndex {
  private readonly byLead = new Map<string, Candidate[]>();
  private readonly lengths: number[];
  private readonly sorted: Candidate[];

  constructor(all: readonly Candidate[]) {
    for (const k of all) {
      const same = this.byLead.get(k.lead);
      if (same) same.push(k);
      else this.byLead.set(k.lead, [k]);
    }
    this.lengths = [...new Set(all.map((k) => k.lead.length))];
    this.sorted = [...all].sort((a, b) => (a.lead < b.lead ? -1 : a.lead > b.lead ? 1 : 0));
  }

  *candidates(text: string): Iterable<Candidate> {
    for (const length of this.lengths) {
      if (length <= text.length) yield* this.byLead.get(text.slice(0, length)) ?? [];
    }
    // Leads longer than the text that begin with it (a frame that runs on in digits after it).
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.sorted[mid]?.lead ?? '') < text) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.sorted.length; i++) {
      const k = this.sorted[i];
      if (!k || !k.lead.startsWith(text)) break;
      if (k.lead.length > text.length) yield k;
    }
  }
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
 * Whether a configured frame renders `text` at or after `earliest` (`exact`), or a text that runs
 * into the other's number: one frame is the other followed by digits only (`run-in`), so frame +
 * number of the one can read as frame + number of the other.
 */
function rendersAs(frame: readonly FramePart[], text: string, earliest: { readonly year: number; readonly month: string }): 'exact' | 'run-in' | null {
  let at = 0;
  let year: number | null = null;
  let month: string | null = null;
  let match: 'exact' | 'run-in' | null = null;
  for (let i = 0; i < frame.length && match === null; i++) {
    const part = frame[i];
    if (!part) break;
    const width = 'text' in part ? part.text.length : part.time === 'yyyy' ? 4 : 2;
    const piece = text.slice(at, at + width);
    if (piece.length < width) {
      // The text ends inside this part: it runs into the number only if the rest of the frame is digits.
      const rest = 'text' in part ? (piece === part.text.slice(0, piece.length) ? part.text.slice(piece.length) : null) : /^\d*$/.test(piece) ? '' : null;
      const later = frame.slice(i + 1).every((x) => 'time' in x || /^\d*$/.test(x.text));
      if (rest === null || !/^\d*$/.test(rest) || !later) return null;
      match = 'run-in';
      break;
    }
    if ('text' in part) {
      if (piece !== part.text) return null;
    } else {
      if (!/^\d+$/.test(piece)) return null;
      if (part.time === 'yyyy') year = Number(piece);
      else month = piece;
    }
    at += width;
  }
  if (match === null) match = at === text.length ? 'exact' : /^\d+$/.test(text.slice(at)) ? 'run-in' : null;
  if (match === null) return null;
  if (month !== null && (month < '01' || month > '12')) return null;
  if (year !== null && (year < earliest.year || year > CHECKED_YEARS.to)) return null;
  if (year === earliest.year && month !== null && month < earliest.month) return null;
  return match;
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
