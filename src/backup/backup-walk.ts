import { GENESIS_HASH } from '../domain/audit-chain.js';
import { ChainVerifier } from '../domain/chain-verifier.js';
import { counterProblems, missingNumberProblem, numberProblem, totalsProblems } from '../domain/derived-diff.js';
import { DerivedReplay } from '../domain/derived-state.js';
import { BackupInvalidError } from '../domain/errors/index.js';
import type { AuditEvent, NumberRecord, RequestRecord, Settings } from '../domain/types.js';
import type { StoreIdentity } from '../storage/sequence-store.js';
import type { SeriesImage } from '../storage/store-transfer.js';
import { eventOf, numberOf, type BackupCounts, type BackupHeader, type BackupLine, type ChainHead } from './backup-format.js';
import { readBackup } from './backup-reader.js';

/** What a walk hands on, in file order; every event has been checked against its chain first. */
export interface BackupVisitor {
  identity?(identity: StoreIdentity): Promise<void>;
  settings?(settings: Partial<Settings>): Promise<void>;
  series?(image: SeriesImage, numbers: readonly NumberRecord[]): Promise<void>;
  requests?(records: readonly RequestRecord[]): Promise<void>;
  /** A series' next events, in seq order; `last`: its trail is complete. */
  events?(series: string, events: readonly AuditEvent[], last: boolean): Promise<void>;
}

export interface BackupSummary {
  readonly header: BackupHeader;
  /** The identity of the store backed up (null: it had none). */
  readonly storeId: string | null;
  /** The manifest's checksum: two reads of one file answer the same. */
  readonly sha256: string;
  readonly counts: BackupCounts;
  readonly heads: readonly ChainHead[];
}

/** A series whose trail is being read: its chain is checked as its events arrive. */
interface Trail {
  readonly image: SeriesImage;
  readonly verifier: ChainVerifier;
  /**
   * The tables the trail derives (number records, counters, totals), compared with the file's at
   * its end; null for an archived series, whose records are in its archive.
   */
  readonly replay: DerivedReplay | null;
  /** The series' number records in the file, until its trail has been compared with them. */
  numbers: readonly NumberRecord[];
  prevHash: string;
  /** Held back one page, so the last page can be marked as last. */
  held: AuditEvent[] | null;
  done: boolean;
}

/**
 * The first disagreement between a series' tables in the file (number records, counters, totals)
 * and what its verified trail derives, or null: a file can be consistent in its chains and still
 * carry records a store would answer wrongly from.
 */
function derivedProblem(image: SeriesImage, numbers: readonly NumberRecord[], replay: DerivedReplay): string | null {
  replay.finish();
  const counters = counterProblems(image.state.counters, replay.counters)[0];
  if (counters) return counters;
  const totals = totalsProblems(image.totals, replay.totals, new Map()).problems[0];
  if (totals) return totals;
  const replayed = new Map(replay.numbers);
  for (const stored of numbers) {
    const problem = numberProblem(stored, replayed.get(stored.number));
    if (problem) return problem;
    replayed.delete(stored.number);
  }
  const [missing] = replayed;
  return missing ? missingNumberProblem(missing[0], missing[1]) : null;
}

/**
 * Reads a backup from start to end and checks everything a restore relies on: the checksum, every
 * series' hash chain and number continuity from its start to its state (ChainVerifier), its open
 * gaps against its number records, and the manifest's counts and chain heads. `visitor` gets the
 * content as it is read; a problem anywhere throws {@link BackupInvalidError}, possibly after
 * the visitor got earlier parts (check first with an empty visitor before writing anywhere).
 */
export async function walkBackup(path: string, visitor: BackupVisitor = {}, onEvents?: (events: number) => void): Promise<BackupSummary> {
  const bad = (message: string) => new BackupInvalidError(`${path}: ${message}`);
  const lines = readBackup(path);
  let header: BackupHeader | null = null;
  let storeId: string | null = null;
  const counts: BackupCounts = { series: 0, events: 0, numbers: 0, requests: 0 };
  const trails = new Map<string, Trail>();
  /** The series whose number records are being gathered, before it is handed on. */
  let pending: { image: SeriesImage; numbers: NumberRecord[] } | null = null;
  let current: Trail | null = null;
  // In an object: the closures below change it, which narrowing would not see.
  const at: { phase: 'head' | 'series' | 'requests' | 'events' } = { phase: 'head' };

  const handOn = async () => {
    const p = pending;
    if (!p) return;
    pending = null;
    const trail = trails.get(p.image.state.series);
    if (trail) trail.numbers = p.numbers;
    const open = new Set(p.image.state.openGaps.map((g) => g.number));
    const recorded = p.numbers.filter((n) => n.status === 'open').map((n) => n.number);
    if (recorded.length !== open.size || recorded.some((n) => !open.has(n))) throw bad(`series ${p.image.state.series}: its number records and its open gaps disagree`);
    await visitor.series?.(p.image, p.numbers);
  };
  const endTrail = async (t: Trail) => {
    if (t.done) return;
    t.done = true;
    if (t.held) await visitor.events?.(t.image.state.series, t.held, true);
    t.held = null;
    const report = t.verifier.finish({ ...t.image.state, version: '' });
    if (!report.valid) throw bad(`series ${t.image.state.series}: ${report.continuity.problem ?? 'its trail is invalid'}`);
    const problem = t.replay ? derivedProblem(t.image, t.numbers, t.replay) : null;
    if (problem) throw bad(`series ${t.image.state.series}: ${problem}`);
    t.numbers = [];
  };
  const enter = (next: (typeof at)['phase'], line: BackupLine) => {
    const order = ['head', 'series', 'requests', 'events'];
    if (order.indexOf(next) < order.indexOf(at.phase)) throw bad(`a ${line.t} line after the ${at.phase} section: the lines are out of order`);
    at.phase = next;
  };

  for (;;) {
    const next = await lines.next();
    if (next.done) {
      await handOn();
      for (const t of trails.values()) await endTrail(t);
      const manifest = next.value;
      if (!header) throw bad('no header');
      const heads = [...trails.values()].map(({ image: { state: s } }) => ({ series: s.series, seq: s.eventSeq, hash: s.lastHash, hwm: s.hwm }));
      if (JSON.stringify(manifest.counts) !== JSON.stringify(counts)) {
        throw bad(`the manifest counts ${JSON.stringify(manifest.counts)} but the file holds ${JSON.stringify(counts)}`);
      }
      if (JSON.stringify(manifest.heads) !== JSON.stringify(heads)) throw bad('the chain heads in the manifest differ from the series in the file');
      return { header, storeId, sha256: manifest.sha256, counts, heads };
    }
    const line = next.value;
    switch (line.t) {
      case 'header':
        if (header) throw bad('a second header');
        header = line;
        break;
      case 'identity':
        enter('head', line);
        storeId = line.identity.storeId;
        await visitor.identity?.(line.identity);
        break;
      case 'settings':
        enter('head', line);
        await visitor.settings?.(line.settings);
        break;
      case 'series': {
        enter('series', line);
        await handOn();
        if (trails.has(line.name) || line.state.series !== line.name) throw bad(`series ${line.name} appears twice or is misnamed`);
        counts.series++;
        const image = { state: line.state, totals: line.totals };
        // An archived series' trail goes on from its archive's head (its events up to it are in the archive file).
        const mark = line.state.archived ?? null;
        const archived = mark ? { mark, hwm: line.state.hwm, voided: line.state.counters.voided } : undefined;
        const verifier = new ChainVerifier(line.name, line.state.start, archived);
        const trail: Trail = { image, verifier, replay: mark ? null : new DerivedReplay(line.name, Infinity), numbers: [], prevHash: mark?.headHash ?? GENESIS_HASH, held: null, done: false };
        trails.set(line.name, trail);
        pending = { image, numbers: [] };
        break;
      }
      case 'numbers': {
        if (at.phase !== 'series' || pending?.image.state.series !== line.series) throw bad(`number records of series ${line.series} outside that series`);
        for (const r of line.records) pending.numbers.push(numberOf(r));
        counts.numbers += line.records.length;
        break;
      }
      case 'requests':
        enter('requests', line);
        await handOn();
        counts.requests += line.records.length;
        await visitor.requests?.(line.records);
        break;
      case 'events': {
        enter('events', line);
        await handOn();
        const t = trails.get(line.series);
        if (!t || t.done) throw bad(`events of series ${line.series}, which has no state before them or whose trail came earlier`);
        if (current !== t) {
          if (current) await endTrail(current);
          current = t;
        }
        const events = line.events.map((row) => {
          const e = eventOf(line.series, row, t.prevHash);
          t.prevHash = e.hash;
          if (!t.verifier.push(e)) throw bad(`series ${line.series}: event ${e.seq}: ${t.verifier.finish({ ...t.image.state, version: '' }).firstInvalidEvent?.problem ?? 'invalid'}`);
          t.replay?.push(e);
          return e;
        });
        counts.events += events.length;
        if (t.held) await visitor.events?.(line.series, t.held, false);
        t.held = events;
        onEvents?.(counts.events);
        break;
      }
      default:
        throw bad(`a line of unknown kind ${JSON.stringify((line as { t?: unknown }).t)}`);
    }
  }
}
