/** The states a series is listed in: open (gives numbers), closed (its period ended), archived. */
export const SERIES_STATUSES = ['open', 'closed', 'archived'] as const;
export type SeriesStatus = (typeof SERIES_STATUSES)[number];

/** Which series a listing shows: in one state, named after `cursor`, at most `limit`. */
export interface SeriesSelection {
  readonly status?: SeriesStatus | undefined;
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
}

/** One page of a listing. `count` is how many series the selection matched in all. */
export interface SeriesPage<T> {
  readonly series: T[];
  readonly count: number;
  readonly truncated: boolean;
  /** Pass as `cursor` for the page after this one; null on the last page. */
  readonly nextCursor: string | null;
}

// Code-unit order, not locale order: a cursor must split the listing the same way on every call.
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Sorts by name and applies the selection; without one, every series in one page. */
export function pageOfSeries<T extends { readonly name: string; readonly status: SeriesStatus }>(all: readonly T[], selection: SeriesSelection = {}): SeriesPage<T> {
  const { status, limit, cursor } = selection;
  const matched = all.filter((s) => status === undefined || s.status === status).sort(byName);
  const after = cursor === undefined ? matched : matched.filter((s) => s.name > cursor);
  const series = limit === undefined ? after : after.slice(0, limit);
  const truncated = series.length < after.length;
  return { series, count: matched.length, truncated, nextCursor: truncated ? (series[series.length - 1]?.name ?? null) : null };
}
