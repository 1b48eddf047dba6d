import { isInternalSeries } from '../domain/series-strategy.js';
import type { SeriesState } from '../domain/types.js';
import type { SequenceStore, TotalsRow } from '../storage/sequence-store.js';

type Reads = Pick<SequenceStore, 'seriesVersions' | 'loadSeries' | 'totals'>;

/**
 * Loads at once, at most: the first read (at start) loads every series, and ten thousand loads in
 * flight on etcd would run past their per-call deadlines and fail the start they used to pass
 * one at a time.
 */
const LOADS_IN_FLIGHT = 16;

interface Kept {
  readonly state: SeriesState;
  totals: Promise<TotalsRow[]> | null;
}

/**
 * The states (and totals) of every series, for the readers of all of them: stats, the series
 * list, /metrics and the dashboard (twice a second while a page is open). Loading every series at
 * every read grows with history (years of closed series) and with the open series that did not
 * change; each series' state is kept here and loaded again only when the store lists it at
 * another version. A read costs one listing of versions plus a load of each series that changed.
 *
 * For display only: nothing that hands out, releases or confirms a number reads through this.
 */
export class SeriesStatesCache {
  private readonly kept = new Map<string, Kept>();
  private closedChanges = 0;

  /** Grows whenever a closed series is kept, replaced or forgotten: readers of closed ones compare it. */
  get closedGeneration(): number {
    return this.closedChanges;
  }

  constructor(
    private readonly store: Reads,
    private readonly start: number,
  ) {}

  /** Whether the last read of every series found this one closed. A closed series never opens again. */
  isKnownClosed(series: string): boolean {
    return (this.kept.get(series)?.state.closedAt ?? null) !== null;
  }

  /** Every series but the internal ones, by name; each state as stored at or after the call. */
  async states(): Promise<SeriesState[]> {
    const versions = await this.store.seriesVersions();
    for (const name of this.kept.keys()) if (!versions.has(name)) this.forget(name);
    const names = [...versions.keys()].filter((n) => !isInternalSeries(n));
    return mapLimited(names, LOADS_IN_FLIGHT, async (name) => {
      const before = this.kept.get(name);
      if (before && before.state.version === versions.get(name)) return before.state;
      const state = await this.store.loadSeries(name, this.start);
      this.kept.set(name, { state, totals: null });
      if (state.closedAt !== null || (before && before.state.closedAt !== null)) this.closedChanges++;
      return state;
    });
  }

  /**
   * The totals of each of these states' series, in order. A kept series' totals are read once:
   * when the store lists the series at another version, it is loaded again and its totals are
   * read again with it.
   */
  async totals(states: readonly SeriesState[]): Promise<TotalsRow[]> {
    const rows = await mapLimited(states, LOADS_IN_FLIGHT, (s) => this.totalsOf(s));
    return rows.flat();
  }

  private forget(name: string): void {
    const kept = this.kept.get(name);
    this.kept.delete(name);
    if (kept && kept.state.closedAt !== null) this.closedChanges++;
  }

  private totalsOf(state: SeriesState): Promise<TotalsRow[]> {
    const kept = this.kept.get(state.series);
    if (!kept) return this.store.totals(state.series);
    if (!kept.totals) {
      const read = this.store.totals(state.series);
      kept.totals = read;
      // A failed read is not kept: the next reader tries again.
      read.catch(() => {
        if (kept.totals === read) kept.totals = null;
      });
    }
    return kept.totals;
  }
}

/** `work` on every item, at most `limit` at once; the answers in the items' order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await work(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
