import { totalsKey, type ReplayedNumber } from './derived-state.js';
import { toRuns } from './sorted-gaps.js';
import type { NumberRecord, RequestRecord, SeriesCounters, TotalsDelta } from './types.js';

/**
 * Comparisons of a store's derived tables with what the trail replays to (see
 * `derived-state.ts`). Pure: each answers the disagreements as sentences naming the stored and
 * the replayed value, or nothing.
 */

type Totals = Pick<TotalsDelta, 'siteId' | 'partitionId' | 'invoiceType' | 'issued' | 'refilled' | 'released'>;

const show = (v: string | number | null | undefined) => (typeof v === 'string' ? JSON.stringify(v) : String(v ?? null));

/**
 * A stored record of a number that is not plainly issued against the trail's (undefined: the
 * trail leaves the number held from the counter, or never issued it). The grant is compared only
 * when the store has one (0: written before allocations were tracked).
 */
export function numberProblem(stored: NumberRecord, replayed: ReplayedNumber | undefined): string | null {
  const n = stored.number;
  if (!replayed) return `number ${n} is stored as ${stored.status} but the trail leaves it held from the counter (or never issued it)`;
  const diffs: string[] = [];
  const field = (name: string, s: string | number | null, r: string | number | null) => {
    if (s !== r) diffs.push(`${name} ${show(s)} stored, ${show(r)} by the trail`);
  };
  field('status', stored.status, replayed.status);
  field('siteId', stored.siteId, replayed.siteId);
  field('partitionId', stored.partitionId, replayed.partitionId);
  field('invoiceType', stored.invoiceType, replayed.invoiceType);
  if (stored.reason !== replayed.reason && (replayed.otherReason === undefined || stored.reason !== replayed.otherReason)) {
    field('reason', stored.reason, replayed.reason);
  }
  if (stored.grant !== 0) field('allocation', stored.grant, replayed.grant);
  return diffs.length === 0 ? null : `number ${n}: ${diffs.join('; ')}`;
}

/** A number the trail leaves open, void, refilled or confirmed that has no stored record. */
export function missingNumberProblem(n: number, replayed: ReplayedNumber): string {
  return `number ${n} is ${replayed.status} by the trail (${replayed.siteId}/${replayed.partitionId}/${replayed.invoiceType}) but has no stored record`;
}

/**
 * Stored totals against the trail's: `replayed` is the trail up to the verified head, `later`
 * what events committed since add (totals only grow, so a stored value read meanwhile lies
 * between the two). Answers the problems and how many keys were compared.
 */
export function totalsProblems(
  stored: readonly Totals[],
  replayed: ReadonlyMap<string, Totals>,
  later: ReadonlyMap<string, Totals>,
): { problems: string[]; checked: number } {
  const storedByKey = new Map(stored.map((t) => [totalsKey(t), t]));
  const keys = new Set([...storedByKey.keys(), ...replayed.keys()]);
  const problems: string[] = [];
  for (const key of [...keys].sort()) {
    const s = storedByKey.get(key);
    const r = replayed.get(key);
    const l = later.get(key);
    for (const f of ['issued', 'refilled', 'released'] as const) {
      const low = r?.[f] ?? 0;
      const high = low + (l?.[f] ?? 0);
      const value = s?.[f] ?? 0;
      if (value < low || value > high) {
        problems.push(`totals of ${key}: ${f} ${value} stored, ${low === high ? low : `${low} to ${high}`} by the trail`);
      }
    }
  }
  return { problems, checked: keys.size };
}

/** The series counters, read with the head the trail was replayed to: equal or wrong. */
export function counterProblems(stored: Readonly<SeriesCounters>, replayed: Readonly<SeriesCounters>): string[] {
  return (['issued', 'refilled', 'released', 'voided'] as const)
    .filter((f) => stored[f] !== replayed[f])
    .map((f) => `series counter ${f}: ${stored[f]} stored, ${replayed[f]} by the trail`);
}

/**
 * A keyed request of the trail against the store's idempotency record of its key. A missing or
 * different record is a disagreement: a retry would allocate again, or get other numbers. The
 * allocation is compared only when the record has one (older records do not).
 */
export function requestProblem(expected: RequestRecord, found: RequestRecord | undefined): string | null {
  const where = `idempotency key ${JSON.stringify(expected.key)} (events ${expected.allocation?.first ?? '?'}-${expected.allocation?.last ?? '?'})`;
  if (!found) return `${where} has no stored record inside the idempotency window: a retry would allocate again`;
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  const diffs: string[] = [];
  if (found.series !== expected.series) diffs.push(`series ${show(found.series)} stored, ${show(expected.series)} by the trail`);
  if (!same(found.numbers, expected.numbers)) diffs.push(`numbers ${runs(found.numbers)} stored, ${runs(expected.numbers)} by the trail`);
  if (!same(found.refilled, expected.refilled)) diffs.push(`refilled ${runs(found.refilled)} stored, ${runs(expected.refilled)} by the trail`);
  if (found.released !== expected.released) diffs.push(`released ${found.released} stored, ${expected.released} by the trail`);
  if (found.fingerprint !== expected.fingerprint) diffs.push(`request ${found.fingerprint} stored, ${expected.fingerprint} by the trail`);
  if (found.committedAt !== expected.committedAt) diffs.push(`committed at ${found.committedAt} stored, ${expected.committedAt} by the trail`);
  const a = found.allocation;
  const b = expected.allocation;
  if (a && (a.first !== b?.first || a.last !== b.last)) diffs.push(`allocation ${a.first}-${a.last} stored, ${b?.first ?? '?'}-${b?.last ?? '?'} by the trail`);
  return diffs.length === 0 ? null : `${where}: ${diffs.join('; ')}`;
}

/** Numbers as short runs (`[3-5,9]`), at most a few shown. */
function runs(ns: readonly number[]): string {
  const parts = toRuns(ns).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
  return `[${parts.slice(0, 5).join(',')}${parts.length > 5 ? ',…' : ''}]`;
}
