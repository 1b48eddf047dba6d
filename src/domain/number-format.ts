import type { SeriesDimension } from './series-strategy.js';

/** How numbers are shown beside their integer value, e.g. `INV-2026-000123`. */
export interface NumberFormat {
  /**
   * Text before the number, e.g. `INV` or `INV-{site}` (empty: none). Tokens: `{site}`,
   * `{partition}`, `{type}` (values of the series' split-by dimensions), `{yyyy}`, `{mm}` (year
   * and month: the series' period when it rolls over, else of the commit in `timeZone`).
   */
  readonly prefix: string;
  /** Put the year of the commit (in `timeZone`; of the period, for a rolling series) between prefix and number. */
  readonly year: boolean;
  /** Zero-pad the number to this many digits (0: no padding). */
  readonly padding: number;
  readonly separator: string;
  /** IANA time zone of the year, e.g. `Europe/Berlin`. */
  readonly timeZone: string;
}

/** Whether `tz` is a time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Tokens a prefix may hold, written `{name}`. */
export const PREFIX_TOKENS = ['site', 'partition', 'type', 'yyyy', 'mm'] as const;
export type PrefixToken = (typeof PREFIX_TOKENS)[number];
/** Tokens standing for a split-by value of the series. */
export type ValueToken = 'site' | 'partition' | 'type';
/** Tokens standing for the time: 4-digit year and 2-digit month. */
export type TimeToken = 'yyyy' | 'mm';

/** The token of each split-by dimension. */
export const DIMENSION_TOKEN: Readonly<Record<SeriesDimension, ValueToken>> = { site: 'site', partition: 'partition', 'invoice-type': 'type' };

/** Values of the split-by dimensions of one series (those it is not split by are absent). */
export type SeriesValues = Partial<Record<ValueToken, string>>;

export type PrefixPart = { readonly text: string } | { readonly token: PrefixToken };

const TOKEN = /\{([^{}]*)\}/g;

/** What is wrong with the tokens of a prefix (an unknown `{…}`, a lone brace), or null. */
export function prefixProblem(prefix: string): string | null {
  for (const m of prefix.matchAll(TOKEN)) {
    if (!(PREFIX_TOKENS as readonly string[]).includes(m[1] ?? '')) {
      return `unknown token "${m[0]}"; tokens are ${PREFIX_TOKENS.map((t) => `{${t}}`).join(', ')}`;
    }
  }
  if (/[{}]/.test(prefix.replace(TOKEN, ''))) return `"{" and "}" only enclose a token: ${PREFIX_TOKENS.map((t) => `{${t}}`).join(', ')}`;
  return null;
}

/** A prefix split into text and tokens (an unknown `{…}` stays text: configuration refuses it). */
export function parsePrefix(prefix: string): PrefixPart[] {
  const parts: PrefixPart[] = [];
  let last = 0;
  for (const m of prefix.matchAll(TOKEN)) {
    const name = m[1] ?? '';
    if (!(PREFIX_TOKENS as readonly string[]).includes(name)) continue;
    if (m.index > last) parts.push({ text: prefix.slice(last, m.index) });
    parts.push({ token: name as PrefixToken });
    last = m.index + m[0].length;
  }
  if (last < prefix.length) parts.push({ text: prefix.slice(last) });
  return parts;
}

/** The tokens a prefix uses. */
export function prefixTokens(prefix: string): Set<PrefixToken> {
  return new Set(parsePrefix(prefix).flatMap((p) => ('token' in p ? [p.token] : [])));
}

/** A piece of the frame: fixed text, or a year (4 digits) or month (2 digits) known when printing. */
export type FramePart = { readonly text: string } | { readonly time: TimeToken };

/**
 * The frame of a series' numbers: everything printed before the digits of the number (prefix
 * with its values, separator, year, separator). Printing is frame + padded number; a value token
 * without a value for the series stays as written.
 */
export function frameOf(f: NumberFormat, values: SeriesValues): FramePart[] {
  const out: FramePart[] = [];
  const text = (t: string) => {
    const prev = out[out.length - 1];
    if (prev && 'text' in prev) out[out.length - 1] = { text: prev.text + t };
    else if (t) out.push({ text: t });
  };
  if (f.prefix) {
    for (const p of parsePrefix(f.prefix)) {
      if ('text' in p) text(p.text);
      else if (p.token === 'yyyy' || p.token === 'mm') out.push({ time: p.token });
      else text(values[p.token] ?? `{${p.token}}`);
    }
    text(f.separator);
  }
  if (f.year) {
    out.push({ time: 'yyyy' });
    text(f.separator);
  }
  return out;
}

/** The frame with its year and month filled in. */
export function renderFrame(frame: readonly FramePart[], year: string, month: string): string {
  let s = '';
  for (const p of frame) s += 'text' in p ? p.text : p.time === 'yyyy' ? year : month;
  return s;
}

/** The number's digits: zero-padded to `padding`. */
export function digitsOf(n: number, padding: number): string {
  return String(n).padStart(padding, '0');
}

/**
 * A formatter for one format and the values of one series. Year and month come from `period`
 * when given (the period of a rolling series, `2026` or `2026-03`; with a yearly one, the month
 * is the commit's, kept within the period's year), else from `at` (epoch ms) in the format's
 * time zone.
 */
export function numberFormatter(f: NumberFormat, values: SeriesValues = {}): (n: number, at: number, period?: string) => string {
  const frame = frameOf(f, values);
  const fixed = frame.every((p) => 'text' in p) ? renderFrame(frame, '', '') : null;
  if (fixed !== null) return (n) => fixed + digitsOf(n, f.padding);
  const calendar = new Intl.DateTimeFormat('en-CA', { timeZone: f.timeZone, year: 'numeric', month: '2-digit' });
  // One formatting per minute: every zone's midnight falls on a whole minute.
  let minute = NaN;
  let year = '';
  let month = '';
  const clock = (at: number) => {
    const m = Math.floor(at / 60_000);
    if (m !== minute) {
      const parts = calendar.formatToParts(at);
      year = parts.find((p) => p.type === 'year')?.value ?? '';
      month = parts.find((p) => p.type === 'month')?.value ?? '';
      minute = m;
    }
  };
  return (n, at, period) => {
    let y: string;
    let mo: string;
    if (period === undefined) {
      clock(at);
      y = year;
      mo = month;
    } else {
      y = period.slice(0, 4);
      if (period.length > 4) {
        mo = period.slice(5, 7);
      } else {
        clock(at);
        mo = year === y ? month : year < y ? '01' : '12';
      }
    }
    return renderFrame(frame, y, mo) + digitsOf(n, f.padding);
  };
}

/** The token values of a series base (`site-1:partition-a`) under the dimensions it is split by. */
export function seriesValuesOf(splitBy: readonly SeriesDimension[], base: string): SeriesValues {
  if (splitBy.length === 0) return {};
  const parts = base.split(':');
  const values: SeriesValues = {};
  splitBy.forEach((d, i) => {
    const v = parts[i];
    if (v !== undefined) values[DIMENSION_TOKEN[d]] = v;
  });
  return values;
}
