import { StoreUnavailableError } from '../domain/errors/index.js';
import { edgeNumbers, refillProblem, stateProblem } from '../domain/series-state-check.js';
import type { SeriesState } from '../domain/types.js';
import type { SequenceStore } from '../storage/sequence-store.js';

/** Reads what the trail says about `state` and answers the first contradiction, or null. */
async function probe(store: SequenceStore, state: SeriesState): Promise<string | null> {
  const [head, edge] = await Promise.all([
    store.readEvents(state.series, Math.max(0, state.eventSeq - 1), 2),
    store.lookupNumbers(state.series, edgeNumbers(state)),
  ]);
  return stateProblem(state, { head, edge });
}

/**
 * Reloads that a series moving under the check gets before the load is answered 503. Another
 * instance committing all the time moves it between two reads now and then, rarely ten times
 * running (a short random pause breaks the lockstep).
 */
const MAX_RELOADS = 10;

/**
 * Checks a freshly loaded state against the trail. The trail is read after the state, so a
 * commit landing in between looks like a contradiction: a problem counts only if the series'
 * version did not move meanwhile; otherwise the state is loaded again and checked again. A
 * series that keeps moving is not let through unchecked: the load fails with a retryable 503.
 */
export async function checkLoadedState(
  store: SequenceStore,
  loaded: SeriesState,
  reload: () => Promise<SeriesState>,
): Promise<{ state: SeriesState; problem: string | null }> {
  let state = loaded;
  for (let i = 0; ; i++) {
    const problem = await probe(store, state);
    if (problem === null) return { state, problem };
    if ((await store.seriesVersion(state.series)) === state.version) return { state, problem };
    if (i === MAX_RELOADS) break;
    await new Promise((r) => setTimeout(r, Math.random() * 5));
    state = await reload();
  }
  throw new StoreUnavailableError(`series "${state.series}" kept changing while its state was checked against the trail; retry`);
}

/** The first of `numbers` (open gaps about to be refilled) that the trail did not leave open. */
export async function refillsProblem(store: SequenceStore, series: string, numbers: readonly number[]): Promise<string | null> {
  const last = await Promise.all(numbers.map((n) => store.queryEvents({ series, number: n, order: 'desc', limit: 1 })));
  for (const [i, n] of numbers.entries()) {
    const problem = refillProblem(n, last[i]?.[0]);
    if (problem) return problem;
  }
  return null;
}
