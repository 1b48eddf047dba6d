import type { ChainReport } from './chain-verifier.js';
import type { ArchiveMark } from './types.js';
import type { ChainHead, SavedHeadReport } from './saved-head.js';

/**
 * The store's derived tables recomputed from the trail (see `derived-state.ts`): number records,
 * totals and series counters, idempotency records of keys inside the window.
 */
export interface DerivedReport {
  /** True only when every table was recomputed and agrees with the trail. */
  readonly valid: boolean;
  /** False when the trail itself is invalid: there is nothing to recompute from. */
  readonly checked: boolean;
  /** Numbers compared: stored records that are not plainly issued, and the trail's missing from the store. */
  readonly numbersChecked: number;
  /** Totals rows (site × partition × type) compared. */
  readonly totalsChecked: number;
  /** Keyed requests of the trail inside the idempotency window whose record was compared. */
  readonly requestsChecked: number;
  /** Every disagreement found; only the first of them are in `problems`. */
  readonly problemCount: number;
  readonly problems: readonly string[];
}

/** The answer of verify for one series. `valid` only if the chain, the derived tables and any saved head are. */
export interface VerifyReport extends ChainReport {
  /**
   * The trail's last event as verified (seq 0 and the genesis hash for an empty series); null
   * when the chain is broken. Save it from a valid report and pass it back as `head` later: a
   * truncated or rewritten trail is then found even if the stored state was rewritten to match.
   */
  readonly head: ChainHead | null;
  /** The verdict on the head passed in (`?head=`), null when none was. */
  readonly savedHead: SavedHeadReport | null;
  readonly derived: DerivedReport;
  /**
   * Set for an archived series: where its events up to the archive's head went. The chain is
   * checked from that head on; the archive itself is checked with `seqd archive verify`.
   */
  readonly archive?: ArchiveMark | undefined;
}
