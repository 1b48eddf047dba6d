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
 * The `replacedAt` of a numbering replaced with every instance stopped, from the last event stamp
 * of every series that can still print and the floor instances keep now: after all of them, so
 * every commit before the change prints with the numbering before. It does not read the clock of
 * the machine that records the change: one behind the instances would date the change before
 * commits already made, one ahead would hold every later stamp in the future (and reservations
 * from expiring) until real time caught up. See {@link stampLeadProblem} for stamps far ahead.
 */
export function replacementTime(lastEventAts: Iterable<number>, floor: number): number {
  let latest = floor;
  for (const at of lastEventAts) latest = Math.max(latest, at);
  return latest + 1;
}

/**
 * Why a change cannot be dated now (null: it can): a series' last event is stamped further ahead
 * of `now` than instances follow a series' clock (`MAX_STAMP_LEAD_MS`), so either this machine's
 * clock is behind the instances' or a clock jumped; dating the change after it would hold every
 * later stamp there.
 */
export function stampLeadProblem(now: number, series: readonly { readonly series: string; readonly lastEventAt: number }[]): string | null {
  const ahead = series.reduce<{ series: string; lastEventAt: number } | null>((a, s) => (a === null || s.lastEventAt > a.lastEventAt ? s : a), null);
  if (!ahead || ahead.lastEventAt <= now + MAX_STAMP_LEAD_MS) return null;
  return (
    `the last event of series "${ahead.series}" is stamped ${new Date(ahead.lastEventAt).toISOString()}, more than an hour after this machine's clock ` +
    `(${new Date(now).toISOString()}): the change is dated after every stored event. A clock is wrong: this machine's (set it right and run ` +
    'the command again), or the one that wrote that event (then run it once this machine\'s clock has passed that time)'
  );
}
