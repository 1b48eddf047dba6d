import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StoreIdentityError } from '../domain/errors/index.js';

/** The last event of a series this data directory saw committed. */
export interface SeriesHead {
  readonly seq: number;
  readonly hash: string;
}

/**
 * What a data directory remembers of the store it served, kept outside the store itself: a store
 * that comes back empty, replaced or rolled back (fewer events, another history) is then
 * recognised at start instead of being taken for a new ledger.
 */
export interface StoreMarker {
  readonly storeId: string;
  readonly kind: string;
  /** Epoch ms, of the store. */
  readonly createdAt: number;
  readonly heads: Readonly<Record<string, SeriesHead>>;
  /** Epoch ms. */
  readonly writtenAt: number;
}

export const MARKER_FILE = 'seqd-store.json';

export function markerPath(dataDir: string): string {
  return join(dataDir, MARKER_FILE);
}

/** The marker of a data directory, null when it has none; an unreadable marker stops start-up. */
export function readMarker(dataDir: string): StoreMarker | null {
  let text: string;
  try {
    text = readFileSync(markerPath(dataDir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StoreIdentityError(`cannot read ${markerPath(dataDir)}: ${(error as Error).message}`);
  }
  try {
    const m = JSON.parse(text) as StoreMarker;
    if (typeof m.storeId !== 'string' || typeof m.heads !== 'object' || m.heads === null) throw new Error('fields missing');
    return m;
  } catch (error) {
    throw new StoreIdentityError(
      `${markerPath(dataDir)} is damaged (${(error as Error).message}): it names the store this directory served; restore it, or remove it only if the store is known to be complete`,
    );
  }
}

/** Writes the marker atomically (a crash leaves the old or the new one, never half of one). */
export function writeMarker(dataDir: string, marker: StoreMarker): void {
  const path = markerPath(dataDir);
  const tmp = `${path}.tmp-${process.pid}`;
  // With an external etcd nothing else creates the data directory.
  mkdirSync(dataDir, { recursive: true });
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${JSON.stringify(marker, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
