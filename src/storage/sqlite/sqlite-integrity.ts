import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { StoreUnavailableError } from '../../domain/errors/index.js';
import { startSqliteThread } from './sqlite-thread.js';

/** The one message the check thread sends before it ends. */
export type CheckReply = { readonly ok: true; readonly problems: readonly string[]; readonly ms: number } | { readonly ok: false; readonly error: string };

/**
 * Files up to this size are checked whole before anything is served (about 0.2 s here; the
 * configuration's `sequence.sqlite.full-check-at-start-max-mb`). A larger file is checked in two
 * steps, so that start-up does not grow with the trail: the tables a number is planned from
 * before serving, the whole file on a thread of its own after.
 */
export const FULL_CHECK_MAX_BYTES = 64 * 1024 * 1024;

/**
 * The tables seqd plans numbers from; they grow with the series, not with the trail. `events`,
 * `batches`, `numbers` and `requests` grow with traffic and are left to the background check.
 */
const SERVING_TABLES = ['meta', 'series', 'totals', 'settings'] as const;

/** The findings of one integrity pragma (`quick_check(5)`, `quick_check('series')`), 'ok' left out. */
export function problemsOf(db: Database.Database, pragma: string): string[] {
  try {
    return (db.pragma(pragma) as { quick_check: string }[]).map((r) => r.quick_check).filter((p) => p !== 'ok');
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
 * anything is served from it: serving from it could give numbers again or lose the trail. SQLite's
 * quick check reads every page once (about 1.8 s per GB here); above `fullCheckMaxBytes` only the
 * serving tables are checked here. Answers whether the whole file still has to be checked.
 */
export function checkBeforeServing(db: Database.Database, path: string, fullCheckMaxBytes: number): { readonly trailUnchecked: boolean } {
  const whole = fileBytes(path) <= fullCheckMaxBytes;
  const problems = whole ? problemsOf(db, 'quick_check(5)') : existingServingTables(db).flatMap((t) => problemsOf(db, `quick_check('${t}')`));
  if (problems.length > 0) throw damagedError(path, problems, 'at start');
  return { trailUnchecked: !whole };
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

// A file made by an older seqd may lack a table this one adds at open (after the check).
function existingServingTables(db: Database.Database): string[] {
  const names = new Set(db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((r) => r.name));
  return SERVING_TABLES.filter((t) => names.has(t));
}
