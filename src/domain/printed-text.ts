import { numberFormatter, seriesValuesOf } from './number-format.js';
import { canonical, formatOf, type FormerNumbering, type NumberingProfile } from './numbering-profile.js';
import { MAX_STAMP_LEAD_MS } from './planner.js';
import { parseSeriesName } from './series-strategy.js';

/**
 * How a series shows a number committed at `at` (epoch ms, the stamp of the allocation that gave
 * it): the `formatted` of `next`, of a replay and of the exports. Null: it was printed without a
 * format.
 */
export type NumberFormatter = (n: number, at: number) => string | null;

/** How `series` prints under `profile` (null: no format, `formatted` is not shown). */
export function formatterUnder(profile: NumberingProfile, series: string): ((n: number, at: number) => string) | null {
  const { base, period } = parseSeriesName(series);
  const format = formatOf(profile, base);
  if (!format) return null;
  const plain = numberFormatter(format, seriesValuesOf(profile.strategy.splitBy, base));
  return period ? (n, at) => plain(n, at, period) : (n, at) => plain(n, at);
}

/**
 * How `series` printed each number: with the numbering in force at the number's commit. A
 * numbering replaced by `seqd change-numbering` printed every commit stamped before its
 * `replacedAt` (the command stamps it after every event then stored, and instances stamp nothing
 * earlier afterwards: see `stampFloorOf`); the current one prints the rest. A former numbering
 * without `replacedAt` (recorded at a start, or before the time was recorded) is not told apart
 * from the next one: one recorded at a start changed nothing any issued series printed.
 * Null when no numbering in force at any time prints `series` with a format.
 */
export function printedTextOf(series: string, current: NumberingProfile, former: readonly FormerNumbering[] = []): NumberFormatter | null {
  const now = formatterUnder(current, series);
  const key = (p: NumberingProfile) => canonical([formatOf(p, parseSeriesName(series).base), p.strategy.splitBy]);
  let later = key(current);
  // Newest first: each era ends where the next begins; eras printing alike are merged.
  const eras: { until: number; format: ((n: number, at: number) => string) | null }[] = [];
  for (let i = former.length - 1; i >= 0; i--) {
    const f = former[i] as FormerNumbering;
    if (f.replacedAt === undefined || key(f) === later) continue;
    eras.unshift({ until: f.replacedAt, format: formatterUnder(f, series) });
    later = key(f);
  }
  if (eras.length === 0) return now;
  if (!now && eras.every((e) => !e.format)) return null;
  // Eras are in time order: the first that ends after `at` printed it.
  return (n, at) => {
    for (const e of eras) if (at < e.until) return e.format ? e.format(n, at) : null;
    return now ? now(n, at) : null;
  };
}

/**
 * The earliest stamp an instance may give an event: the latest recorded change of numbering.
 * Events stamped from it on print with the current numbering (see {@link printedTextOf}), even
 * on an instance whose clock is behind the one that recorded the change.
 */
export function stampFloorOf(former: readonly FormerNumbering[] = []): number {
  return former.reduce((m, f) => Math.max(m, f.replacedAt ?? 0), 0);
}

/**
 * The `replacedAt` of a numbering replaced at `now` (with every instance stopped), given the last
 * event stamp of every series: after all of them, so every commit before the change prints with
 * the numbering before. A stamp further ahead of `now` than instances follow a clock (a clock
 * that jumped) is not followed: its events would show with the new numbering.
 */
export function replacementTime(now: number, lastEventAts: Iterable<number>): number {
  let latest = now;
  for (const at of lastEventAts) latest = Math.max(latest, Math.min(at, now + MAX_STAMP_LEAD_MS));
  return latest + 1;
}
