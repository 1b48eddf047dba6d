import { GENESIS_HASH } from '../domain/audit-chain.js';
import { ChainVerifier, type ChainReport } from '../domain/chain-verifier.js';
import { checkSavedHead, type ChainHead, type SavedHeadReport } from '../domain/saved-head.js';
import type { ArchiveMark, SeriesState } from '../domain/types.js';
import type { VerifyReport } from '../domain/verify-report.js';
import type { SequenceStore } from '../storage/sequence-store.js';
import { DerivedVerification } from './verify-derived.js';

const EVENTS_PAGE = 5000;
/** An archived series keeps no number records: the tables are in its archive file. */
const ARCHIVED_DERIVED = { valid: true, checked: false, numbersChecked: 0, totalsChecked: 0, requestsChecked: 0, problemCount: 0, problems: [] } as const;

export interface VerifySeriesOptions {
  readonly store: SequenceStore;
  /** The start a series gets when it does not exist yet. */
  readonly start: number;
  /** How long idempotency records count (ms). */
  readonly requestWindowMs: number;
  readonly now: () => number;
  /** A head the caller saved from an earlier verify: it must still be in the trail. */
  readonly savedHead?: ChainHead | undefined;
  readonly onProgress?: ((checked: number) => void) | undefined;
}

/**
 * Verifies one series: recomputes the hash chain and replays every number from the start to the
 * HWM against the stored state, recomputes the derived tables (number records, totals, counters,
 * idempotency records) against the store's, and checks a saved head. Reads in pages and yields
 * between them, so a long trail does not stall allocations.
 */
export async function verifySeries(series: string, o: VerifySeriesOptions): Promise<VerifyReport & { durationMs: number }> {
  const first = await verifyOnce(series, o);
  if (first.valid || first.archive) return first;
  // Archived while it ran: the events it was reading left with the archive, which is no fault.
  return (await o.store.loadSeries(series, o.start)).archived ? verifyOnce(series, o) : first;
}

async function verifyOnce(series: string, o: VerifySeriesOptions): Promise<VerifyReport & { durationMs: number }> {
  const t0 = performance.now();
  // The stored state bounds the replay: events committed after this read are not compared.
  const state = await o.store.loadSeries(series, o.start);
  // An archived series: its events up to the archive's head and its number records are in the
  // archive file (checked offline); here the chain is checked from that head on.
  const archive = state.archived ?? null;
  const verifier = new ChainVerifier(series, state.start, archive ? { mark: archive, hwm: state.hwm, voided: state.counters.voided } : undefined);
  const derived = new DerivedVerification({ store: o.store, series, requestWindowMs: o.requestWindowMs, now: o.now, headSeq: state.eventSeq });
  let head: ChainHead = archive ? { seq: archive.headSeq, hash: archive.headHash } : { seq: 0, hash: GENESIS_HASH };
  let atSaved: ChainHead | undefined;
  while (head.seq < state.eventSeq && verifier.ok) {
    const events = await o.store.readEvents(series, head.seq, Math.min(EVENTS_PAGE, state.eventSeq - head.seq));
    if (events.length === 0) break;
    for (const e of events) {
      if (!verifier.push(e)) break;
      derived.push(e);
      head = { seq: e.seq, hash: e.hash };
      if (e.seq === o.savedHead?.seq) atSaved = head;
    }
    o.onProgress?.(head.seq);
    if (verifier.ok) await derived.checkRequests();
    await new Promise((r) => setImmediate(r));
  }
  const chain = await beyondStoredState(o.store, state, verifier.finish(state));
  const broken = chain.firstInvalidEvent;
  const report = {
    ...chain,
    head: broken ? null : head,
    savedHead: !o.savedHead
      ? null
      : archive && o.savedHead.seq <= archive.headSeq
        ? archivedHeadReport(o.savedHead, archive)
        : await savedHeadReport(o.store, series, o.savedHead, atSaved, broken?.seq ?? null, state.eventSeq),
    derived: broken
      ? DerivedVerification.notChecked(`not recomputed: the trail is invalid at event ${broken.seq}`)
      : archive
        ? ARCHIVED_DERIVED
        : await derived.finish(state),
    ...(archive ? { archive } : {}),
  };
  return {
    ...report,
    valid: chain.valid && report.derived.valid && (report.savedHead?.valid ?? true),
    durationMs: Math.round(performance.now() - t0),
  };
}

/**
 * Events after the stored state's last one are commits made during the verify, unless the
 * series version did not move: then the state was set back behind its own trail (a restored or
 * edited state), which would re-issue the numbers those events gave.
 */
async function beyondStoredState(store: SequenceStore, state: SeriesState, chain: ChainReport): Promise<ChainReport> {
  if (!chain.continuity.valid) return chain;
  const [after] = await store.readEvents(state.series, state.eventSeq, 1);
  if (!after || (await store.seriesVersion(state.series)) !== state.version) return chain;
  const problem = `the trail goes on to event ${after.seq} beyond the stored state (which ends at event ${state.eventSeq}): the state was set back`;
  return { ...chain, valid: false, continuity: { ...chain.continuity, valid: false, problem } };
}

/** A head saved before the series was archived: the archive's own head is known here, earlier ones only in the file. */
function archivedHeadReport(saved: ChainHead, mark: ArchiveMark): SavedHeadReport {
  if (saved.seq === mark.headSeq) {
    return { ...saved, valid: saved.hash === mark.headHash, problem: saved.hash === mark.headHash ? null : `event ${saved.seq}'s hash differs from the saved one: history rewritten` };
  }
  return { ...saved, valid: false, problem: `not checked here: event ${saved.seq} is in the archive ${mark.file} (events 1..${mark.headSeq}); check the saved head against that file` };
}

/** `atSaved`: the event at the saved seq if the replay met it; `brokenAt`: where the chain broke. */
async function savedHeadReport(
  store: SequenceStore,
  series: string,
  saved: ChainHead,
  atSaved: ChainHead | undefined,
  brokenAt: number | null,
  storedSeq: number,
): Promise<SavedHeadReport> {
  if (brokenAt !== null && brokenAt <= saved.seq) {
    return { ...saved, valid: false, problem: `not checked: the trail is invalid at event ${brokenAt}, at or before the saved head` };
  }
  // Beyond the stored state: the event read on its own tells truncation from a state rolled back.
  const found = atSaved ?? (saved.seq > storedSeq ? (await store.readEvents(series, saved.seq - 1, 1)).find((e) => e.seq === saved.seq) : undefined);
  return checkSavedHead(saved, found, storedSeq);
}
