import type { CommitPlan } from '../../domain/planner.js';

/**
 * The next transaction's requests, in arrival order: at most one plan per series. Plans of other
 * series share the fsync; a series' next plan (planned on the one before it) waits for the next
 * transaction, so the first of them is answered one commit earlier.
 */
export function nextTransaction<R extends { readonly plan: Pick<CommitPlan, 'series'> }>(backlog: R[]): R[] {
  const taken: R[] = [];
  const series = new Set<string>();
  for (let i = 0; i < backlog.length; ) {
    const r = backlog[i];
    if (r && !series.has(r.plan.series)) {
      series.add(r.plan.series);
      taken.push(r);
      backlog.splice(i, 1);
    } else {
      i++;
    }
  }
  return taken;
}
