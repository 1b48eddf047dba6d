import { stateProblem, edgeNumbers, gapsToProbe } from '../domain/series-state-check.js';
import type { AuditEvent, SeriesState } from '../domain/types.js';
import type { SequenceStore } from '../storage/sequence-store.js';

/** Reads what the trail says about `state` and answers the first contradiction, or null. */
async function probe(store: SequenceStore, state: SeriesState): Promise<string | null> {
  const gaps = gapsToProbe(state);
  const [head, edge, gapEvents] = await Promise.all([
    store.readEvents(state.series, Math.max(0, state.eventSeq - 1), 2),
    store.lookupNumbers(state.series, edgeNumbers(state)),
    Promise.all(gaps.map((n) => store.queryEvents({ series: state.series, number: n, order: 'desc', limit: 1 }))),
  ]);
  const lastOf = new Map<number, AuditEvent | undefined>(gaps.map((n, i) => [n, gapEvents[i]?.[0]]));
  return stateProblem(state, { head, edge, gapEvents: lastOf });
}

/** Reloads that a series moving under the check gets before it is let through (see below). */
const MAX_RELOADS = 3;

/**
 * Checks a freshly loaded state against the trail. The trail is read after the state, so a
 * commit landing in between looks like a contradiction: a problem counts only if the series'
 * version did not move meanwhile; otherwise the state is loaded again and checked again. A
 * series that keeps moving is let through: its state is stale anyway, and a plan on it cannot
 * land (every commit compares the version).
 */
export async function checkLoadedState(
  store: SequenceStore,
  loaded: SeriesState,
  reload: () => Promise<SeriesState>,
): Promise<{ state: SeriesState; problem: string | null }> {
  let state = loaded;
  for (let i = 0; i <= MAX_RELOADS; i++) {
    const problem = await probe(store, state);
    if (problem === null) return { state, problem };
    if ((await store.seriesVersion(state.series)) === state.version) return { state, problem };
    if (i === MAX_RELOADS) break;
    state = await reload();
  }
  return { state, problem: null };
}
