import { GENESIS_HASH } from '../../src/domain/audit-chain.js';
import type { SeriesState } from '../../src/domain/types.js';

/** The state of series "global" before its first number, as a store creates it. */
export function emptySeriesState(start = 1): SeriesState {
  return {
    series: 'global',
    start,
    hwm: start - 1,
    version: '0',
    eventSeq: 0,
    lastHash: GENESIS_HASH,
    openGaps: [],
    counters: { issued: 0, refilled: 0, released: 0, voided: 0 },
    closedAt: null,
    lastEventAt: 0,
  };
}
