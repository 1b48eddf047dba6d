import type { AuditEvent, NumberRecord, SeriesState } from './types.js';

/**
 * What the trail says about a loaded series state, read by the caller (this module does no I/O).
 * Cheap enough for every load: a few point reads, never a replay (a full replay is `verify`).
 */
export interface TrailFacts {
  /** `readEvents(series, eventSeq - 1, 2)`: the head event and anything after it. */
  readonly head: readonly AuditEvent[];
  /** The store's records of {@link edgeNumbers}: derived from the trail's issue events. */
  readonly edge: ReadonlyMap<number, NumberRecord>;
}

/** Numbers whose records show where the trail's counter ends: the HWM and the one above it. */
export function edgeNumbers(state: SeriesState): number[] {
  return state.hwm >= state.start ? [state.hwm, state.hwm + 1] : [state.start];
}

/**
 * The first contradiction between a series' stored state and its trail, or null. Allocation
 * plans on the stored state, so a HWM edited down would re-issue numbers the trail already gave:
 * a series with a problem must serve nothing. (Open gaps are checked one by one before they are
 * refilled: see {@link refillProblem}.)
 */
export function stateProblem(state: SeriesState, facts: TrailFacts): string | null {
  // An archived series' number records left with its archive: its edge has nothing to show (and
  // it plans nothing: every op on it is refused).
  const edge = state.archived ? null : edgeProblem(state, facts.edge);
  return headProblem(state, facts.head) ?? edge ?? counterProblem(state);
}

/**
 * Whether an open gap about to be refilled is one the trail left open: its last event must be a
 * release. A held number marked open would otherwise go to a second invoice. `last` undefined:
 * the store could not find the event (etcd gives up after a bounded scan), so it cannot tell.
 */
export function refillProblem(n: number, last: AuditEvent | undefined): string | null {
  if (last === undefined || last.type === 'release') return null;
  return `number ${n} is stored as an open gap, but the trail's last word on it is ${last.type} event ${last.seq}`;
}
function headProblem(state: SeriesState, head: readonly AuditEvent[]): string | null {
  const [first, second] = head;
  if (state.eventSeq === 0) {
    return first ? `the state has no events but the trail has event ${first.seq}` : null;
  }
  if (!first || first.seq !== state.eventSeq) return `the state ends at event ${state.eventSeq}, which is not in the trail`;
  if (second) return `the state ends at event ${state.eventSeq} but the trail goes on to event ${second.seq}`;
  if (first.hash !== state.lastHash) return `the state's last hash differs from the hash of event ${state.eventSeq}`;
  return null;
}

function edgeProblem(state: SeriesState, edge: ReadonlyMap<number, NumberRecord>): string | null {
  if (state.hwm < state.start - 1) return `high-water mark ${state.hwm} is below the series start ${state.start}`;
  if (state.hwm < state.start) {
    return edge.has(state.start) ? `high-water mark says nothing was issued but the trail issued ${state.start}` : null;
  }
  if (!edge.has(state.hwm)) return `high-water mark ${state.hwm} was never issued by the trail`;
  if (edge.has(state.hwm + 1)) return `high-water mark is ${state.hwm} but the trail issued ${state.hwm + 1}`;
  return null;
}

function counterProblem(state: SeriesState): string | null {
  const { issued, refilled, released, voided } = state.counters;
  // Every open gap was released and not yet refilled or voided (a close voids what is open).
  const open = released - refilled - voided;
  if (state.openGaps.length !== open) {
    return `${state.openGaps.length} open gaps stored, but the counters leave ${open} (released ${released}, refilled ${refilled}, void ${voided})`;
  }
  if (issued - refilled !== state.hwm - state.start + 1) {
    return `${issued - refilled} numbers issued from the counter, but the high-water mark ${state.hwm} says ${state.hwm - state.start + 1}`;
  }
  if (state.closedAt !== null && state.openGaps.length > 0) return 'the series is closed but has open gaps';
  let below = state.start - 1;
  for (const g of state.openGaps) {
    if (g.number <= below || g.number > state.hwm) return `open gap ${g.number} is out of order or outside ${state.start}..${state.hwm}`;
    below = g.number;
  }
  return null;
}
