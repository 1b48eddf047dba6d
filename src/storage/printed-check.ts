import { createHash } from 'node:crypto';
import { ConfigError } from '../domain/errors/index.js';
import type { SeriesFormat } from '../domain/format-uniqueness.js';
import { canonical, type FormerNumbering, type NumberingProfile } from '../domain/numbering-profile.js';
import { printedAgainProblem, printedFormats, type IssuedSeries } from '../domain/printed-frames.js';
import { isInternalSeries, parseSeriesName } from '../domain/series-strategy.js';
import type { SeriesState } from '../domain/types.js';
import type { SequenceStore, StoreIdentity } from './sequence-store.js';

/** Every numbering a store had, oldest first, its current one last. */
export function historyOf(identity: StoreIdentity): NumberingProfile[] {
  return [...(identity.formerNumbering ?? []), identity.numbering];
}

/**
 * The identity under a new numbering, the one before it kept in its history. `replacedAt` (from
 * `seqd change-numbering`) dates the change: such a numbering is kept every time, as it tells
 * which commits printed with it. One replaced at a start is kept once and not at all when it is
 * the new one: it printed nothing differently.
 */
export function withNumbering(identity: StoreIdentity, numbering: NumberingProfile, replacedAt?: number): StoreIdentity {
  const bare = (p: NumberingProfile) => canonical({ strategy: p.strategy, formats: p.formats });
  const text = bare(numbering);
  const before: FormerNumbering = replacedAt === undefined ? identity.numbering : { ...identity.numbering, replacedAt };
  const all = [...(identity.formerNumbering ?? []), before];
  const former = all.filter(
    (p, i) => p.replacedAt !== undefined || (bare(p) !== text && all.findIndex((q) => q.replacedAt === undefined && bare(q) === bare(p)) === i),
  );
  return { ...identity, numbering, formerNumbering: former };
}

/**
 * What a printed-number check was run against: the store's numberings and the configured bases.
 * Equal to the identity's `printedChecked`, the check has nothing new to find (what issued since
 * printed the configured frames, which `format-uniqueness.ts` keeps apart) and is skipped.
 */
export function printedFingerprint(identity: StoreIdentity, bases: ReadonlySet<string>): string {
  return createHash('sha256')
    .update(canonical({ history: historyOf(identity), bases: [...bases].sort() }))
    .digest('hex');
}

export interface PrintedCheckOptions {
  readonly store: SequenceStore;
  /** The numbering the configuration asks for, and every base a request can map to. */
  readonly numbering: NumberingProfile;
  readonly bases: ReadonlySet<string>;
  /** The configured bases that print numbers, with their formats. */
  readonly printing: readonly SeriesFormat[];
  /** The counter start: a series whose HWM is below it has issued nothing. */
  readonly start: number;
  readonly now: number;
  /** The idempotency window: a retried request is answered again for this long (ms). */
  readonly requestWindowMs: number;
}

/**
 * The series' state with the stamp of its last event. A series stored before seqd kept it has 0
 * until its next commit (for good, once closed): its last event is read instead (an archived
 * series keeps its archive event).
 */
export async function withLastStamp(store: SequenceStore, s: SeriesState): Promise<SeriesState> {
  if (s.lastEventAt > 0 || s.eventSeq === 0) return s;
  const [last] = await store.readEvents(s.series, s.eventSeq - 1, 1);
  return { ...s, lastEventAt: last?.ts ?? 0 };
}

/**
 * No configured series may print a number a stored series printed (see `printed-frames.ts`),
 * under any of the store's numberings (`history`). Only series that printed otherwise than the
 * configuration would print them now are loaded; of one base, the series after the first that
 * issued (newest first) are taken as printed without loading them (at worst a refusal too many).
 */
export async function checkPrintedAgain(o: PrintedCheckOptions, names: readonly string[], history: readonly NumberingProfile[]): Promise<void> {
  const byBase = new Map<string, string[]>();
  for (const name of [...names].sort().reverse()) {
    if (isInternalSeries(name) || printedFormats(history, o.numbering, o.bases, [{ series: name, hwm: null, lastEventAt: null }], o.now).length === 0) continue;
    const base = parseSeriesName(name).base;
    byBase.set(base, [...(byBase.get(base) ?? []), name]);
  }
  const issued: IssuedSeries[] = [];
  for (const group of byBase.values()) {
    for (const [i, name] of group.entries()) {
      const state = await withLastStamp(o.store, await o.store.loadSeries(name, o.start));
      if (state.hwm < state.start) continue;
      issued.push({ series: name, hwm: state.hwm, lastEventAt: state.lastEventAt }, ...group.slice(i + 1).map((series) => ({ series, hwm: null, lastEventAt: null })));
      break;
    }
  }
  const printed = printedFormats(history, o.numbering, o.bases, issued, o.now);
  const problem = printedAgainProblem(o.printing, printed, o.now - o.requestWindowMs, o.numbering.strategy.rollover?.timeZone ?? null);
  if (problem) throw new ConfigError(problem.key, problem.message);
}
