import { GENESIS_HASH } from './audit-chain.js';
import { ValidationError } from './errors/index.js';

/** A point of a series' chain: the seq of an event and its hash (seq 0: the genesis hash). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** The verdict on a head the caller saved from an earlier verify. */
export interface SavedHeadReport extends ChainHead {
  readonly valid: boolean;
  readonly problem: string | null;
}

const HEAD = /^(0|[1-9][0-9]{0,15}):([0-9a-f]{64})$/;

/** Reads `<seq>:<hash>` as verify answers it (`head.seq`, `head.hash`); anything else is a 400 naming `field`. */
export function parseSavedHead(text: string, field = 'head'): ChainHead {
  const m = HEAD.exec(text);
  const seq = Number(m?.[1]);
  if (!m?.[2] || !Number.isSafeInteger(seq)) {
    throw new ValidationError(`${field} must be <seq>:<hash>, an event number and its 64-digit lowercase hex hash as verify answered them (head.seq, head.hash)`, {
      field,
    });
  }
  return { seq, hash: m[2] };
}

/**
 * Whether the saved head is still part of the trail. `found` is the trail's event at `saved.seq`
 * (undefined: the trail has none); `storedSeq` the last event the stored state names. A head
 * saved earlier lies at or before the stored state's: the state only moves forward.
 */
export function checkSavedHead(saved: ChainHead, found: ChainHead | undefined, storedSeq: number): SavedHeadReport {
  const verdict = (problem: string | null): SavedHeadReport => ({ ...saved, valid: problem === null, problem });
  if (saved.seq === 0) return verdict(saved.hash === GENESIS_HASH ? null : 'the saved head 0 does not carry the genesis hash');
  if (!found) return verdict(`trail truncated: event ${saved.seq} saved by the caller is missing`);
  if (found.hash !== saved.hash) return verdict(`event ${saved.seq}'s hash differs from the saved one: history rewritten`);
  if (saved.seq > storedSeq) return verdict(`the stored state ends at event ${storedSeq}, before event ${saved.seq} saved by the caller: the state was rolled back`);
  return verdict(null);
}
