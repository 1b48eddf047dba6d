import type { SeriesState } from './types.js';

/**
 * How long a closed series stays among the live ones (the dashboard's snapshots, per-series
 * gauges): past a month-end rollover, long enough to see last month's final figures and alerts.
 */
export const LIVE_AFTER_CLOSE_MS = 35 * 24 * 3600_000;

/**
 * Whether a series is shown live: open, or closed within {@link LIVE_AFTER_CLOSE_MS}. Years of
 * series closed earlier would otherwise make every dashboard tick and every scrape grow with
 * history; those are read on demand (the series list, stats, a series' report).
 */
export function isLiveSeries(state: SeriesState, now: number): boolean {
  return state.closedAt === null || now - state.closedAt < LIVE_AFTER_CLOSE_MS;
}
