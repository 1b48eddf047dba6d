import { MAX_STAMP_LEAD_MS } from '../domain/planner.js';

/**
 * Idempotency records are kept this long past the window: more than the clock skew between
 * instances that seqd tolerates (the clock of whoever sweeps or copies sets the cutoff).
 */
export const REQUEST_MARGIN_MS = 10 * 60_000;

/**
 * The commit time before which an idempotency record may be swept or left out of a copy: the
 * window and the margin before `now`, but never later than that before the newest stamp the
 * store holds (`newest`, less the lead a stamp may have on real time; null: not known). Any
 * process that opens a store may sweep or copy it, and one whose clock is ahead (an admin command
 * on a machine set a day forward) would otherwise drop records that instances still answer: the
 * retried request would get new numbers.
 */
export function requestCutoff(now: number, newest: number | null, windowMs: number): number {
  const reference = newest === null ? now : Math.min(now, newest - MAX_STAMP_LEAD_MS);
  return reference - windowMs - REQUEST_MARGIN_MS;
}
