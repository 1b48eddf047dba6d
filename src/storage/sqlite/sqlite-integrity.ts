import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { StoreUnavailableError } from '../../domain/errors/index.js';
import { mapPages, type TreeToMap } from './sqlite-page-map.js';
import { startSqliteThread } from './sqlite-thread.js';

/** The one message the check thread sends before it ends. */
export type CheckReply = { readonly ok: true; readonly problems: readonly string[]; readonly ms: number } | { readonly ok: false; readonly error: string };

/**
 * Files up to this size are checked whole before anything is served (about 0.2 s here; the
 * configuration's `sequence.sqlite.full-check-at-start-max-mb`). A larger file is checked in two
 * steps, so that start-up does not grow with the trail: its structure and the tables numbers are
 * planned from before serving (see {@link checkBeforeServing}), the whole file on a thread of its
 * own after.
 */
export const FULL_CHECK_MAX_BYTES = 64 * 1024 * 1024;

/**
 * The tables seqd plans numbers from: its series (high-water mark, version, chain head), the open
 * and void numbers a refill takes, settings, totals and identity. They grow with series and gaps,
 * not with the trail, and SQLite's own check reads them before serving. `events`, `batches` and
 * `requests` grow with traffic: the page map covers their structure, the check after start the rest.
 */
const SERVING_TABLES: readonly string[] = ['meta', 'series', 'totals', 'settings', 'numbers'];

/**
 * SQLite's integrity check of the whole file (`table` unset) or of one table and its indexes.
 * Not the quick check: that one does not check the order of keys in tables without rowid (all of
 * seqd's), and a series row out of order is a series a lookup misses and seqd would start again.
 */
export const integrityPragma = (table?: string): string => (table === undefined ? 'integrity_check(5)' : `integrity_check('${table}')`);

/** The findings of one integrity pragma ({@link integrityPragma}), 'ok' left out. */
export function problemsOf(db: Database.Database, pragma: string): string[] {
  try {
    return (db.pragma(pragma) as Record<string, unknown>[]).map((r) => String(Object.values(r)[0])).filter((p) => p !== 'ok');
  } catch (error) {
    // Damage bad enough that the check cannot walk the table is itself the finding.
    if ((error as { code?: unknown }).code === 'SQLITE_CORRUPT') return [(error as Error).message];
    throw error;
  }
}

/** The error every start and every commit gives once damage was found. */
export function damagedError(path: string, problems: readonly string[], when: string): StoreUnavailableError {
  return new StoreUnavailableError(
    `${path} failed its integrity check ${when} (${problems.join('; ')}): it is damaged and seqd does not serve from it; restore it from a backup (seqd restore)`,
  );
}

/**
 * A file damaged while seqd was stopped (a bad disk, a copy cut short, an edit) is refused before
 * anything is served from it: serving from it could give numbers again or lose the trail. A file
 * up to `fullCheckMaxBytes` gets SQLite's integrity check (every page and row, about 4 s per GB here).
 *
 * A larger one gets, before serving: every commit checkpointed into the main file, then the page
 * map ({@link mapPages}: the file read once front to back, every page's owner found from the
 * roots and the freelist; no page claimed twice or by nothing, every page the kind its tree needs
 * where it is reached), then SQLite's integrity check of each serving table. What that leaves to the
 * whole-file check after start (answered `trailUnchecked`) is what lies inside the pages of the
 * other tables (key order, records, free space), which a write keeps inside that page. Until that
 * check passed, nothing frees pages anyway (no sweep, no purge, no replacing restore) and no
 * snapshot is read.
 */
export function checkBeforeServing(db: Database.Database, path: string, fullCheckMaxBytes: number): { readonly trailUnchecked: boolean } {
  if (fileBytes(path) <= fullCheckMaxBytes) return checkWhole(db, path);
  // The map reads the main file: it must hold every commit (a WAL left by an unclean stop).
  const checkpoint = (db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0];
  if (checkpoint?.busy !== 0) return checkWhole(db, path);
  let trees: TreeToMap[];
  try {
    trees = db
      .prepare<[], { name: string; rootpage: number }>('SELECT name, rootpage FROM sqlite_schema WHERE rootpage > 0')
      .all()
      .map((t) => ({ name: t.name, root: t.rootpage }));
  } catch (error) {
    if ((error as { code?: unknown }).code === 'SQLITE_CORRUPT') throw damagedError(path, [(error as Error).message], 'at start');
    throw error;
  }
  const map = mapPages(path, [{ name: 'sqlite_schema', root: 1 }, ...trees]);
  if (map.unsupported !== null) return checkWhole(db, path);
  const serving = trees.filter((t) => SERVING_TABLES.includes(t.name)).map((t) => t.name);
  const problems = map.problems.length > 0 ? map.problems : serving.flatMap((t) => problemsOf(db, integrityPragma(t)));
  if (problems.length > 0) throw damagedError(path, problems, 'at start');
  return { trailUnchecked: true };
}

function checkWhole(db: Database.Database, path: string): { readonly trailUnchecked: false } {
  const problems = problemsOf(db, integrityPragma());
  if (problems.length > 0) throw damagedError(path, problems, 'at start');
  return { trailUnchecked: false };
}

/** Checks the whole file on a thread of its own; resolves with what it found (never rejects). */
export function checkWholeFileInBackground(path: string): { readonly result: Promise<CheckReply>; stop(): void } {
  const worker = startSqliteThread('sqlite-check-thread', { path });
  // The check must never keep a stopping process alive; a check still running at close is dropped.
  worker.unref();
  const result = new Promise<CheckReply>((resolve) => {
    worker.once('message', (reply: CheckReply) => resolve(reply));
    worker.once('error', (error) => resolve({ ok: false, error: String(error) }));
    worker.once('exit', (code) => resolve({ ok: false, error: `the check thread ended (exit code ${code})` }));
  });
  return { result, stop: () => void worker.terminate() };
}

/** The database file and its WAL, in bytes. */
export function fileBytes(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += statSync(path + suffix).size;
    } catch {
      // no WAL file: the database was closed cleanly
    }
  }
  return total;
}
