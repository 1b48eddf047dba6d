import { isInternalSeries } from '../domain/series-strategy.js';
import type { SeriesState } from '../domain/types.js';
import type { SequenceStore, TotalsRow } from '../storage/sequence-store.js';

type Reads = Pick<SequenceStore, 'seriesVersions' | 'loadSeries' | 'totals'>;

interface Kept {
  readonly state: SeriesState;
  totals: Promise<TotalsRow[]> | null;
}

/**
 * The states (and totals) of every series, for the readers of all of them: stats, the series
 * list, /metrics and the dashboard, each read every few seconds. Years of closed series would make
 * each read load thousands of series that never change again; a closed series is kept here and
 * loaded again only when the store lists it at another version (an archive, or a series made
 * again by a restore). A read costs one listing of versions plus a load of every open series.
 *
 * For display only: nothing that hands out, releases or confirms a number reads through this.
 */
export class SeriesStatesCache {
  private readonly closed = new Map<string, Kept>();
  private changes = 0;

  /** Grows whenever a closed series is kept, replaced or forgotten: readers of closed ones compare it. */
  get closedGeneration(): number {
    return this.changes;
  }

  constructor(
    private readonly store: Reads,
    private readonly start: number,
  ) {}

  /** Whether a read of every series found this one closed (and it was listed since). */
  isKnownClosed(series: string): boolean {
    return this.closed.has(series);
  }

  /** Every series but the internal ones, by name; each state as stored at or after the call. */
  async states(): Promise<SeriesState[]> {
    const versions = await this.store.seriesVersions();
    for (const name of this.closed.keys()) if (!versions.has(name)) this.forget(name);
    const names = [...versions.keys()].filter((n) => !isInternalSeries(n));
    return Promise.all(
      names.map(async (name) => {
        const kept = this.closed.get(name);
        if (kept && kept.state.version === versions.get(name)) return kept.state;
        const state = await this.store.loadSeries(name, this.start);
        if (state.closedAt !== null) {
          this.closed.set(name, { state, totals: null });
          this.changes++;
        } else this.forget(name);
        return state;
      }),
    );
  }

  /**
   * The totals of each of these states' series, in order. A kept closed series' totals are read
   * once: when the store lists the series at another version, it is loaded again and its totals
   * are read again with it.
   */
  async totals(states: readonly SeriesState[]): Promise<TotalsRow[]> {
    const rows = await Promise.all(states.map((s) => this.totalsOf(s)));
    return rows.flat();
  }

  private forget(name: string): void {
    if (this.closed.delete(name)) this.changes++;
  }

  private totalsOf(state: SeriesState): Promise<TotalsRow[]> {
    const kept = this.closed.get(state.series);
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
