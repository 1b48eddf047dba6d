/**
 * Start-up check that printed numbers stay unique across every series that can exist. Pure.
 *
 * A printed number is its frame (everything before the digits: prefix with its values,
 * separators, year) followed by the zero-padded number. When every frame is empty or ends with a
 * non-digit, the maximal run of trailing digits is the number, so a printed number splits back
 * into one (frame, number): two series then never print the same text as long as no two of them
 * can ever have the same frame. When some frame ends with a digit the split is ambiguous unless
 * all frames have the same length (`A1`+`000001` and `A`+`1000001` both read `A1000001`).
 *
 * Frames are compared concretely: each series base with its values filled in, each year of
 * {@link CHECKED_YEARS} (and any year written literally where another frame has its year) and
 * each month. Within one base, a rolling series must print its period: the year with a yearly
 * rollover, year and month with a monthly one (else each period repeats the last one's numbers).
 */
import {
  digitsOf,
  DIMENSION_TOKEN,
  frameOf,
  prefixTokens,
  renderFrame,
  type FramePart,
  type NumberFormat,
  type SeriesValues,
  type TimeToken,
} from './number-format.js';
import type { SeriesStrategy } from './series-strategy.js';

/** The format one series base prints with. */
export interface SeriesFormat {
  /** Series base name: `global`, `site-1:partition-a`. */
  readonly base: string;
  /** Token values of the base (`seriesValuesOf`). */
  readonly values: SeriesValues;
  /** Configuration key of the format: `sequence.format` or `sequence.series.formats.<base>`. */
  readonly key: string;
  readonly format: NumberFormat;
}

/** Why a configuration is refused: the key to change and what is wrong. */
export interface FormatProblem {
  readonly key: string;
  readonly message: string;
}

/** The years frames are compared over (beside years that a frame writes out literally). */
export const CHECKED_YEARS = { from: 2000, to: 2199 } as const;

const MONTHS = Array.from({ length: 12 }, (_, i) => String(i + 1).padStart(2, '0'));

/** A token of a dimension the series are not split by has no single value for a series. */
export function formatTokenProblem(strategy: SeriesStrategy, formats: readonly { key: string; format: NumberFormat }[]): FormatProblem | null {
  const split = strategy.splitBy.map((d) => DIMENSION_TOKEN[d]);
  for (const { key, format } of formats) {
    const tokens = prefixTokens(format.prefix);
    for (const [dimension, token] of Object.entries(DIMENSION_TOKEN)) {
      if (tokens.has(token) && !split.includes(token)) {
        return {
          key: `${key}.prefix`,
          message:
            `{${token}} names the ${dimension} of a series, but series are not split by ${dimension} ` +
            `(sequence.series.split-by is [${strategy.splitBy.join(', ')}]): add ${dimension} to sequence.series.split-by or take {${token}} out of the prefix`,
        };
      }
    }
  }
  return null;
}

interface Entry extends SeriesFormat {
  readonly frame: readonly FramePart[];
  /** The frame character by character: the character, or null for a digit of the year or month. */
  readonly cells: readonly (string | null)[];
}

/**
 * The first reason why two series could print the same number, or null. `series` holds every
 * series base that can exist and prints numbers (bases without a format print none).
 */
export function formatUniquenessProblem(strategy: SeriesStrategy, series: readonly SeriesFormat[]): FormatProblem | null {
  const entries: Entry[] = series.map((s) => {
    const frame = frameOf(s.format, s.values);
    const cells = frame.flatMap((p): (string | null)[] => ('text' in p ? [...p.text] : Array<null>(p.time === 'yyyy' ? 4 : 2).fill(null)));
    return { ...s, frame, cells };
  });
  return periodProblem(strategy, entries) ?? sharedFrameProblem(strategy, entries) ?? digitEndProblem(entries);
}

/** Every period of a rolling series must print differently: the year, and the month for monthly. */
function periodProblem(strategy: SeriesStrategy, entries: readonly Entry[]): FormatProblem | null {
  const rollover = strategy.rollover;
  if (!rollover) return null;
  const checked = new Set<string>();
  for (const e of entries) {
    if (checked.has(e.key)) continue;
    checked.add(e.key);
    const has = (t: TimeToken) => e.frame.some((p) => 'time' in p && p.time === t);
    const f = e.format;
    if (!has('yyyy')) {
      const [a, b] = rollover.period === 'yearly' ? ['2026', '2027'] : ['2026-12', '2027-12'];
      return {
        key: `${e.key}.year`,
        message:
          `with a ${rollover.period} rollover (sequence.series.rollover) series "${e.base}@${a}" and "${e.base}@${b}" both print ` +
          `"${renderFrame(e.frame, '', '12')}${digitsOf(1, f.padding)}": set ${e.key}.year: true or put {yyyy} in ${e.key}.prefix`,
      };
    }
    if (rollover.period === 'monthly' && !has('mm')) {
      const sep = f.separator || '-';
      const example = prefixTokens(f.prefix).has('yyyy')
        ? `"${f.prefix.replace('{yyyy}', `{yyyy}${sep}{mm}`)}"`
        : `"${f.prefix}${f.prefix ? f.separator : ''}{yyyy}${sep}{mm}" with year: false`;
      return {
        key: `${e.key}.prefix`,
        message:
          `with a monthly rollover (sequence.series.rollover.period) series "${e.base}@2026-11" and "${e.base}@2026-12" both print ` +
          `"${renderFrame(e.frame, '2026', '')}${digitsOf(1, f.padding)}": put {mm} in ${e.key}.prefix, e.g. ${example}`,
      };
    }
  }
  return null;
}

/** Two different series must never have the same frame. */
function sharedFrameProblem(strategy: SeriesStrategy, entries: readonly Entry[]): FormatProblem | null {
  const byLength = new Map<number, Entry[]>();
  for (const e of entries) {
    const same = byLength.get(e.cells.length);
    if (same) same.push(e);
    else byLength.set(e.cells.length, [e]);
  }
  for (const group of [...byLength.values()].flatMap(refine)) {
    const problem = collisionIn(strategy, group, entries);
    if (problem) return problem;
  }
  return null;
}

/**
 * Splits frames of one length into groups that could share a frame: at a position where some
 * frame has a year or month digit, only digits can match it; elsewhere the characters must be
 * equal. Repeated while it splits (a smaller group has fewer such positions). Groups of one drop.
 */
function refine(group: readonly Entry[]): Entry[][] {
  if (group.length < 2) return [];
  const length = group[0]?.cells.length ?? 0;
  const timed: boolean[] = Array.from({ length }, (_, i) => group.some((e) => e.cells[i] === null));
  const buckets = new Map<string, Entry[]>();
  for (const e of group) {
    const key = e.cells.map((c, i) => (timed[i] && (c === null || /\d/.test(c)) ? '\u0000' : c)).join('');
    const bucket = buckets.get(key);
    if (bucket) bucket.push(e);
    else buckets.set(key, [e]);
  }
  if (buckets.size === 1) return [[...group]];
  return [...buckets.values()].flatMap(refine);
}

/** Fills in every year and month of the frames of a group: two series with one frame are refused. */
function collisionIn(strategy: SeriesStrategy, group: readonly Entry[], all: readonly Entry[]): FormatProblem | null {
  const years = new Set<string>();
  // From 2026 on first: the example year an error shows.
  for (let y = 2026; y <= CHECKED_YEARS.to; y++) years.add(String(y));
  for (let y = CHECKED_YEARS.from; y < 2026; y++) years.add(String(y));
  // A year written out in one frame where another frame prints its year.
  for (const e of group) {
    let at = 0;
    for (const p of e.frame) {
      if ('time' in p && p.time === 'yyyy') {
        for (const o of group) {
          const literal = o.cells.slice(at, at + 4);
          if (literal.length === 4 && literal.every((x) => x !== null && /\d/.test(x))) years.add(literal.join(''));
        }
      }
      at += 'text' in p ? p.text.length : p.time === 'yyyy' ? 4 : 2;
    }
  }
  const seen = new Map<string, { e: Entry; year: string; month: string }>();
  for (const e of group) {
    const hasYear = e.frame.some((p) => 'time' in p && p.time === 'yyyy');
    const hasMonth = e.frame.some((p) => 'time' in p && p.time === 'mm');
    for (const year of hasYear ? years : ['']) {
      for (const month of hasMonth ? MONTHS : ['']) {
        const frame = renderFrame(e.frame, year, month);
        const prev = seen.get(frame);
        if (prev && prev.e.base !== e.base) return collision(strategy, prev, { e, year, month }, frame, all);
        if (!prev) seen.set(frame, { e, year, month });
      }
    }
  }
  return null;
}

function collision(
  strategy: SeriesStrategy,
  a: { e: Entry; year: string; month: string },
  b: { e: Entry; year: string; month: string },
  frame: string,
  all: readonly Entry[],
): FormatProblem {
  const name = (x: { e: Entry; year: string; month: string }) => {
    const r = strategy.rollover;
    if (!r) return x.e.base;
    // A yearly series prints the commit's month: name the period by its year only.
    return `${x.e.base}@${r.period === 'monthly' ? `${x.year}-${x.month || '01'}` : x.year}`;
  };
  const pa = a.e.format.padding;
  const pb = b.e.format.padding;
  const n = pa === pb ? 1 : 10 ** Math.max(pa, pb);
  const printed = frame + digitsOf(n, pa);
  // Tokens of the dimensions whose values differ among the series of these formats, not in them.
  const keys = new Set([a.e.key, b.e.key]);
  const users = all.filter((x) => keys.has(x.key));
  const missing = strategy.splitBy
    .map((d) => DIMENSION_TOKEN[d])
    .filter((t) => new Set(users.map((x) => x.values[t])).size > 1)
    .filter((t) => !prefixTokens(a.e.format.prefix).has(t) || !prefixTokens(b.e.format.prefix).has(t));
  let hint: string;
  if (a.e.key !== b.e.key) {
    hint = `give ${a.e.key}.prefix and ${b.e.key}.prefix texts that no other series prints`;
    if (missing.length) hint += `, or put ${tokenList(missing)} in them`;
  } else if (missing.length) {
    const p = a.e.format.prefix;
    hint = `put ${tokenList(missing)} in ${a.e.key}.prefix, e.g. "${p}${p ? '-' : ''}${missing.map((t) => `{${t}}`).join('-')}"`;
  } else {
    hint = `the values print alike: separate the tokens in ${a.e.key}.prefix with a character ids cannot hold, e.g. "/"`;
  }
  const key = `${(b.e.key.startsWith('sequence.series.formats.') ? b.e : a.e).key}.prefix`;
  const via = a.e.key === b.e.key ? `${a.e.key}` : `${a.e.key} and ${b.e.key}`;
  return {
    key,
    message: `series "${name(a)}" and "${name(b)}" can print the same number "${printed}" (both print the frame "${frame}" before the number, by ${via}): ${hint}`,
  };
}

function tokenList(tokens: readonly string[]): string {
  return tokens.map((t) => `{${t}}`).join(' and ');
}

/** A frame ending with a digit runs into the number: refused unless all frames are equally long. */
function digitEndProblem(entries: readonly Entry[]): FormatProblem | null {
  const lengths = new Set(entries.map((e) => e.cells.length));
  if (lengths.size < 2) return null;
  for (const e of entries) {
    const last = e.cells[e.cells.length - 1];
    if (last === undefined || (last !== null && !/\d/.test(last))) continue;
    const other = entries.find((o) => o.cells.length !== e.cells.length);
    if (!other) continue;
    const mine = renderFrame(e.frame, '2026', '01');
    const theirs = renderFrame(other.frame, '2026', '01');
    return {
      key: `${e.key}.separator`,
      message:
        `series "${e.base}" prints its numbers right after "${mine}", which ends with a digit, while "${other.base}" prints after "${theirs}" ` +
        `(another length): where the number starts cannot be told (e.g. "A1"+"000001" and "A"+"1000001" both read "A1000001"); ` +
        `end ${e.key}.prefix with a non-digit or set ${e.key}.separator to a non-digit such as "-"`,
    };
  }
  return null;
}
