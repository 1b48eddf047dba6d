import { randomUUID } from 'node:crypto';
import { ConfigError, StoreIdentityError } from '../domain/errors/index.js';
import { canonical, numberingChanges, seriesFits, type NumberingChange, type NumberingProfile } from '../domain/numbering-profile.js';
import { isInternalSeries } from '../domain/series-strategy.js';
import { checkPrintedAgain, historyOf, printedFingerprint, withNumbering, type PrintedCheckOptions } from './printed-check.js';
import type { SequenceStore, StoreIdentity } from './sequence-store.js';
import { markerPath, readMarker, writeMarker, type SeriesHead, type StoreMarker } from './store-marker.js';

/** What the printed-number check needs (see `printed-check.ts`), and the data directory. */
export interface IdentityCheckOptions extends Omit<PrintedCheckOptions, 'now'> {
  /** The data directory whose marker names the store it served. */
  readonly dataDir: string;
  readonly now?: number | undefined;
  readonly log?: ((message: string) => void) | undefined;
}

/**
 * Makes sure the store is the ledger this data directory served and that it numbers as
 * configured, before any number is handed out:
 * - an empty store where the marker names one that held events is refused (a lost, emptied or
 *   replaced database is never taken for a new ledger);
 * - a store with another id, or without an event the marker saw committed (rolled back, or its
 *   history rewritten), is refused;
 * - a numbering different from the stored one is refused once numbers were issued
 *   (`seqd change-numbering` records such a change in the trail first);
 * - a configured series that would print numbers a stored series printed is refused (a renamed
 *   site whose format does not print the site starts over with the old site's printed numbers).
 * A new store gets an identity; a store from before identities is adopted when its series fit.
 * Answers the identity, and writes the marker.
 */
export async function checkStoreIdentity(o: IdentityCheckOptions): Promise<StoreIdentity> {
  for (let attempt = 1; ; attempt++) {
    const identity = await checkOnce(o);
    if (identity) return identity;
    if (attempt === 3) {
      throw new StoreIdentityError(
        `the numbering of the ${o.store.kind} store was changed by other instances three times while this one started: instances of one store must run one configuration`,
      );
    }
  }
}

/** Null when another instance saved another numbering meanwhile (checked again from the start). */
async function checkOnce(o: IdentityCheckOptions): Promise<StoreIdentity | null> {
  const now = o.now ?? Date.now();
  const marker = readMarker(o.dataDir);
  const names = await o.store.listSeries();
  let identity = await o.store.loadIdentity();
  if (!identity) {
    if (marker) {
      throw new StoreIdentityError(
        `the ${o.store.kind} store has no identity${names.length ? '' : ' and no series'}, but ${markerPath(o.dataDir)} says this directory served store ${marker.storeId} ` +
          `(created ${new Date(marker.createdAt).toISOString()}, ${describeHeads(marker)}): the database was lost, emptied or replaced. ` +
          'Restore it from a backup; remove the marker only to start a new, empty ledger on purpose.',
      );
    }
    const misfits = names.filter((n) => !isInternalSeries(n) && !seriesFits(o.numbering.strategy, n));
    if (misfits.length > 0) throw strategyMismatch(misfits, o.numbering);
    const created: StoreIdentity = { storeId: randomUUID(), createdAt: now, adopted: names.length > 0, numbering: o.numbering };
    identity = await o.store.saveIdentity(created, null);
    if (identity.storeId === created.storeId) {
      o.log?.(names.length ? `store ${identity.storeId}: existing data adopted under the configured numbering` : `new store ${identity.storeId} created`);
    }
  }
  if (marker && marker.storeId !== identity.storeId) {
    throw new StoreIdentityError(
      `the ${o.store.kind} store is ${identity.storeId}, but ${markerPath(o.dataDir)} says this directory served store ${marker.storeId}: another ledger was put in its place. ` +
        'Point the configuration at the right store, or move the data directory aside to serve this one.',
    );
  }
  if (marker) await checkHeads(o.store, marker, o.dataDir);
  // The same numbering has no changes whatever was issued: loading every series (thousands, years
  // of them) to find which issued is needed only when the configuration differs.
  const same = canonical(identity.numbering) === canonical(o.numbering);
  const issued = same ? [] : await issuedSeries(o.store, names, o.start);
  const changes = same ? [] : numberingChanges(identity.numbering, o.numbering, issued);
  if (changes.length > 0 && issued.length > 0) throw new NumberingChangedError(changes);
  const next = withNumbering(identity, o.numbering);
  const fingerprint = printedFingerprint(next, o.bases);
  if (identity.printedChecked !== fingerprint) {
    await checkPrintedAgain({ ...o, now }, names, historyOf(identity));
    // Nothing numbered changes (no number issued yet, or only formats of series that never
    // printed): the configured numbering becomes the store's, the one before it kept.
    const saved = await o.store.saveIdentity({ ...next, printedChecked: fingerprint }, identity);
    if (canonical(saved.numbering) !== canonical(o.numbering)) return null;
    identity = saved;
    if (changes.length > 0) o.log?.(`store ${identity.storeId}: no number issued yet, numbering set to the configured one (${changes.map((c) => c.key).join(', ')})`);
  }
  writeMarker(o.dataDir, { storeId: identity.storeId, kind: o.store.kind, createdAt: identity.createdAt, heads: marker?.heads ?? {}, writtenAt: now });
  return identity;
}

/** The configured numbering differs from the store's, after numbers were issued under it. */
export class NumberingChangedError extends ConfigError {
  constructor(readonly changes: readonly NumberingChange[]) {
    const first = changes[0];
    super(
      first?.key ?? 'sequence.series',
      `differs from the numbering this store issued numbers under (${changes.map((c) => `${c.key}: ${c.was} → ${c.now}`).join('; ')}). ` +
        'Starting would restart or reprint numbering without a trace. Put the old values back, or record the change with ' +
        '`seqd change-numbering` (it closes the old series in the audit trail and says where the new ones start).',
    );
  }
}

function strategyMismatch(misfits: readonly string[], numbering: NumberingProfile): ConfigError {
  const s = numbering.strategy;
  return new ConfigError(
    'sequence.series',
    `the store holds series (${misfits.slice(0, 5).join(', ')}${misfits.length > 5 ? ', …' : ''}) that split-by [${s.splitBy.join(', ')}] with rollover ${s.rollover?.period ?? 'none'} cannot produce: ` +
      'it was numbered under another series configuration. Put that configuration back, or record the change with `seqd change-numbering`.',
  );
}

/**
 * Every event the marker saw committed must still be there, with the same hash, or have gone to
 * an archive: the store's `archive` event follows the archived head, so a head at or before it
 * was seen before the archive (its hash is checked when it is the archived head itself; earlier
 * ones are in the archive file, which `seqd archive verify` checks).
 */
async function checkHeads(store: SequenceStore, marker: StoreMarker, dataDir: string): Promise<void> {
  for (const [series, head] of Object.entries(marker.heads)) {
    const [event] = await store.readEvents(series, head.seq - 1, 1);
    if (event?.seq === head.seq && event.hash === head.hash) continue;
    const state = (await store.listSeries()).includes(series) ? await store.loadSeries(series, 1) : null;
    const mark = state?.archived;
    if (mark && (head.seq < mark.headSeq || (head.seq === mark.headSeq && head.hash === mark.headHash))) continue;
    throw new StoreIdentityError(
      `series ${series} of store ${marker.storeId} is older than ${markerPath(dataDir)} says: event ${head.seq} (hash ${head.hash.slice(0, 12)}…) was committed, ` +
        `but the store ${event ? `has another event there (hash ${event.hash.slice(0, 12)}…)` : `ends at event ${state?.eventSeq ?? 0}`}: the database was rolled back or rewritten. ` +
        'Restore the latest copy; numbers after that event would be handed out twice.',
    );
  }
}

async function issuedSeries(store: SequenceStore, names: readonly string[], start: number): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) {
    if (isInternalSeries(name)) continue;
    const state = await store.loadSeries(name, start);
    if (state.hwm >= state.start) out.push(name);
  }
  return out;
}

function describeHeads(marker: StoreMarker): string {
  const heads = Object.entries(marker.heads);
  const events = heads.reduce((sum, [, h]) => sum + h.seq, 0);
  return heads.length ? `${heads.length} series, ${events} events seen` : 'no events seen yet';
}

/**
 * Keeps the data directory's marker up to date with the heads this instance saw committed: the
 * later a marker, the less a rollback can hide. Written every `intervalMs` and at close.
 */
export class StoreMarkerKeeper {
  private heads: Record<string, SeriesHead>;
  private timer: NodeJS.Timeout | null = null;
  private written = '';

  constructor(
    private readonly dataDir: string,
    private readonly identity: StoreIdentity,
    private readonly kind: string,
    private readonly currentHeads: () => Iterable<[string, SeriesHead]>,
    private readonly onError: (error: unknown) => void,
  ) {
    this.heads = { ...(readMarker(dataDir)?.heads ?? {}) };
  }

  start(intervalMs = 10_000): void {
    this.timer = setInterval(() => this.update(), intervalMs);
    this.timer.unref();
  }

  /** Writes the marker when a head moved; a head never moves backwards here. */
  update(): void {
    try {
      for (const [series, head] of this.currentHeads()) {
        if (head.seq <= 0) continue;
        const known = this.heads[series];
        if (!known || known.seq < head.seq) this.heads[series] = { seq: head.seq, hash: head.hash };
      }
      const text = JSON.stringify(this.heads);
      if (text === this.written) return;
      writeMarker(this.dataDir, { storeId: this.identity.storeId, kind: this.kind, createdAt: this.identity.createdAt, heads: this.heads, writtenAt: Date.now() });
      this.written = text;
    } catch (error) {
      this.onError(error);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.update();
  }
}
