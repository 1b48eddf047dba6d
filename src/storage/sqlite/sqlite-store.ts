import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GENESIS_HASH } from '../../domain/audit-chain.js';
import { MaintenanceError, StoreUnavailableError } from '../../domain/errors/index.js';
import type { CommitPlan } from '../../domain/planner.js';
import type { AuditEvent, InvoiceType, NumberRecord, SeriesState, Settings } from '../../domain/types.js';
import {
  RequestLookup,
  type AuditQuery,
  type CommitResult,
  type NumberQuery,
  type SequenceStore,
  type StoreHealth,
  type StoreIdentity,
  type StorePipelining,
  type TotalsRow,
} from '../sequence-store.js';
import { canonical } from '../../domain/numbering-profile.js';
import { decodeSettings } from '../settings-codec.js';
import { decodeRequest } from '../request-record-codec.js';
import { configure } from './sqlite-committer.js';
import { RANGE_LOOKUP_SQL, SCHEMA_VERSION, SQLITE_SCHEMA } from './sqlite-schema.js';
import { addMissingColumns, checkSchema } from './sqlite-schema-check.js';
import { SqliteWriter } from './sqlite-writer.js';
import { checkBeforeServing, checkWholeFileInBackground, damagedError, fileBytes, FULL_CHECK_MAX_BYTES } from './sqlite-integrity.js';
import { SqliteLoader } from './sqlite-loader.js';
import { SqliteSnapshot } from './sqlite-snapshot.js';
import { MAINTENANCE_MESSAGE, migratedMessage, RESTORE_UNFINISHED, type StoreLoader, type StoreSnapshot } from '../store-transfer.js';
import { lockDataDir } from './sqlite-lock.js';
import { archiveMarkOf, issuedRecord, toEvent, toRecord, toState, type EventRow, type NumberRow, type SeriesRow } from '../sql-rows.js';

export interface SqliteStoreOptions {
  /** Directory holding `seqd.sqlite`; created when missing. */
  readonly dataDir: string;
  /** How long idempotency records are kept (default 24 h). */
  readonly requestWindowMs?: number | undefined;
  /** Larger files are checked whole after start, not before (default `FULL_CHECK_MAX_BYTES`). */
  readonly fullCheckMaxBytes?: number | undefined;
  /** Told how the check of the whole file ended when it ran after start (for the log). */
  readonly onIntegrityCheck?: ((outcome: { readonly ok: boolean; readonly message: string }) => void) | undefined;
}

export const SQLITE_FILE = 'seqd.sqlite';
/** Held by the process serving the data directory (see `lockDataDir`). */
export const LOCK_FILE = 'seqd.lock';
/** Rows of each kind one call of `purgeArchived` deletes: it runs on the main thread, so each stays a short write (about 10 ms at the 2.5 µs a record npm run bench:backup measured). */
const PURGE_PAGE = 2000;

/**
 * Embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit returns only
 * after its WAL frames are fsync'd. Commits run on a writer thread (better-sqlite3 is synchronous,
 * and an fsync on the main thread would stall every request); reads run on the main thread's own
 * connection and see every commit that was acknowledged.
 */
export class SqliteStore implements SequenceStore {
  readonly kind = 'sqlite' as const;
  readonly limits = { maxOpsPerBatch: 2000 };
  // The writer thread applies commits in order and compares version and hash, and the version
  // is a counter: the next batch can be planned while the previous one is being fsync'd.
  readonly pipelining: StorePipelining = {
    // Two: one batch being fsync'd, the next one waiting behind it (measured: 3 and 4 gain nothing).
    maxInFlight: 2,
    nextVersion: (commit) => String(Number(commit.baseVersion) + 1),
  };
  readonly path: string;
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly writer: SqliteWriter;
  private readonly unlock: () => void;
  /** Set once the check after start found damage: from then on nothing is read or written. */
  private damage: StoreUnavailableError | null = null;
  private integrityCheck: 'whole file at start' | 'running after start' | 'passed after start' | 'failed after start';
  private readonly stopCheck: () => void = () => undefined;
  /**
   * Settles once the whole file passed its check (at once when it was checked before serving);
   * rejects with the damage found, or at close. Whatever frees pages waits for it.
   */
  private readonly wholeFileChecked: Promise<void> = Promise.resolve();

  constructor(options: SqliteStoreOptions) {
    mkdirSync(options.dataDir, { recursive: true });
    this.path = join(options.dataDir, SQLITE_FILE);
    this.unlock = lockDataDir(join(options.dataDir, LOCK_FILE));
    let opened: { db: Database.Database; trailUnchecked: boolean };
    try {
      opened = openDatabase(this.path, options.fullCheckMaxBytes ?? FULL_CHECK_MAX_BYTES);
    } catch (error) {
      this.unlock();
      throw error;
    }
    this.db = opened.db;
    this.writer = new SqliteWriter(this.path, options.requestWindowMs ?? 24 * 3600_000, opened.trailUnchecked);
    this.integrityCheck = opened.trailUnchecked ? 'running after start' : 'whole file at start';
    if (opened.trailUnchecked) {
      const check = this.checkAfterStart(options.onIntegrityCheck ?? (() => undefined));
      this.stopCheck = check.stop;
      this.wholeFileChecked = check.checked;
    }
    const db = this.db;
    this.stmt = {
      series: db.prepare<[string], SeriesRow>('SELECT * FROM series WHERE name = ?'),
      version: db.prepare<[string], { version: number }>('SELECT version FROM series WHERE name = ?'),
      moveEmptyStart: db.prepare<[number, number, string, number]>(
        'UPDATE series SET start = ?, hwm = ?, version = version + 1 WHERE name = ? AND version = ? AND event_seq = 0 AND closed_at IS NULL',
      ),
      createSeries: db.prepare<[string, number, number, string]>(
        'INSERT OR IGNORE INTO series (name, start, hwm, version, event_seq, last_hash) VALUES (?, ?, ?, 0, 0, ?)',
      ),
      openGaps: db.prepare<[string], NumberRow>(
        "SELECT * FROM numbers WHERE series = ? AND status = 'open' ORDER BY number",
      ),
      number: db.prepare<[string, number], NumberRow>('SELECT * FROM numbers WHERE series = ? AND number = ?'),
      issueRange: db.prepare<[string, number], EventRow>(RANGE_LOOKUP_SQL.issue),
      // Numbers below every counter range: a legacy import's (few events start that low).
      importRange: db.prepare<[string, number], EventRow>(RANGE_LOOKUP_SQL.import),
      settings: db.prepare<[], { key: string; value: string }>('SELECT key, value FROM settings'),
      request: db.prepare<[string, number], { series: string; record: string }>(
        'SELECT series, record FROM requests WHERE key = ? AND committed_at >= ? ORDER BY committed_at DESC LIMIT 1',
      ),
      readEvents: db.prepare<[string, number, number], EventRow>(
        'SELECT * FROM events WHERE series = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      totals: db.prepare<[string], { site_id: string; partition_id: string; invoice_type: string; issued: number; refilled: number; released: number }>(
        'SELECT site_id, partition_id, invoice_type, issued, refilled, released FROM totals WHERE series = ? ORDER BY 1, 2, 3',
      ),
      listSeries: db.prepare<[], { name: string }>('SELECT name FROM series ORDER BY name'),
      seriesVersions: db.prepare<[], { name: string; version: number }>('SELECT name, version FROM series ORDER BY name'),
    };
  }

  async loadSeries(series: string, start: number): Promise<SeriesState> {
    return this.guard(() => {
      if (!this.stmt.series.get(series)) this.stmt.createSeries.run(series, start, start - 1, GENESIS_HASH);
      return this.readState(series);
    });
  }

  async moveEmptySeriesStart(series: string, start: number, version: string): Promise<SeriesState> {
    return this.guard(() => {
      this.stmt.moveEmptyStart.run(start, start - 1, series, Number(version));
      return this.readState(series);
    });
  }

  async lookupNumbers(series: string, numbers: readonly number[]): Promise<Map<number, NumberRecord>> {
    return this.guard(() => {
      const found = new Map<number, NumberRecord>();
      for (const n of numbers) {
        const row = this.stmt.number.get(series, n);
        if (row) {
          found.set(n, toRecord(row));
          continue;
        }
        const range = this.stmt.issueRange.get(series, n);
        if (range) {
          if (range.last !== null && range.last >= n) found.set(n, issuedRecord(n, range));
          // An import only starts a series that issued nothing: it lies below every issue range.
          continue;
        }
        const imported = this.stmt.importRange.get(series, n);
        if (imported && imported.last !== null && imported.last >= n) found.set(n, issuedRecord(n, imported));
      }
      return found;
    });
  }

  async seriesVersion(series: string): Promise<string | null> {
    return this.guard(() => {
      const row = this.stmt.version.get(series);
      return row ? String(row.version) : null;
    });
  }

  async lookupRequests(_series: string, keys: readonly string[], notBefore: number): Promise<RequestLookup> {
    // No versions: the writer checks keys inside its own transaction.
    return this.guard(() => {
      const found = new RequestLookup();
      for (const key of keys) {
        const row = this.stmt.request.get(key, notBefore);
        if (row) found.set(key, decodeRequest(key, row.record, row.series));
      }
      return found;
    });
  }

  async commit(plan: CommitPlan): Promise<CommitResult> {
    const outcome = await this.writer.commit(plan);
    if (outcome.status === 'committed') return outcome;
    if (outcome.status === 'maintenance') {
      const { migratedTo } = await this.loadSettings();
      throw new MaintenanceError(plan.maintenance === false && migratedTo !== undefined ? migratedMessage(migratedTo) : MAINTENANCE_MESSAGE);
    }
    return this.guard(() => ({ status: 'conflict' as const, state: this.readState(plan.series) }));
  }

  async readEvents(series: string, afterSeq: number, limit: number): Promise<AuditEvent[]> {
    return this.guard(() => this.stmt.readEvents.all(series, afterSeq, limit).map(toEvent));
  }

  async queryEvents(q: AuditQuery): Promise<AuditEvent[]> {
    return this.guard(() => {
      const where = ['series = @series'];
      const params: Record<string, string | number> = { series: q.series, limit: q.limit };
      if (q.number !== undefined) {
        where.push('first <= @number AND last >= @number');
        params.number = q.number;
      }
      const eq: [keyof AuditQuery, string][] = [
        ['siteId', 'site_id'],
        ['partitionId', 'partition_id'],
        ['invoiceType', 'invoice_type'],
        ['type', 'type'],
      ];
      for (const [key, column] of eq) {
        const value = q[key];
        if (typeof value === 'string') {
          where.push(`${column} = @${key}`);
          params[key] = value;
        }
      }
      if (q.from !== undefined) {
        where.push('ts >= @from');
        params.from = q.from;
      }
      if (q.to !== undefined) {
        where.push('ts <= @to');
        params.to = q.to;
      }
      if (q.cursor !== undefined) {
        where.push(q.order === 'desc' ? 'seq < @cursor' : 'seq > @cursor');
        params.cursor = q.cursor;
      }
      const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY seq ${q.order === 'desc' ? 'DESC' : 'ASC'} LIMIT @limit`;
      return this.db.prepare<Record<string, string | number>, EventRow>(sql).all(params).map(toEvent);
    });
  }

  async listNumbers(q: NumberQuery): Promise<NumberRecord[]> {
    return this.guard(() => {
      if (q.statuses.length === 0) return [];
      const marks = q.statuses.map(() => '?').join(', ');
      const sql = `SELECT * FROM numbers WHERE series = ? AND status IN (${marks}) AND number > ? ORDER BY number LIMIT ?`;
      return this.db
        .prepare<(string | number)[], NumberRow>(sql)
        .all(q.series, ...q.statuses, q.afterNumber ?? -1, q.limit)
        .map(toRecord);
    });
  }

  async totals(series: string): Promise<TotalsRow[]> {
    return this.guard(() =>
      this.stmt.totals.all(series).map((r) => ({
        siteId: r.site_id,
        partitionId: r.partition_id,
        invoiceType: r.invoice_type as InvoiceType,
        issued: r.issued,
        refilled: r.refilled,
        released: r.released,
      })),
    );
  }

  async listSeries(): Promise<string[]> {
    return this.guard(() => this.stmt.listSeries.all().map((r) => r.name));
  }

  async seriesVersions(): Promise<Map<string, string>> {
    return this.guard(() => new Map(this.stmt.seriesVersions.all().map((r) => [r.name, String(r.version)])));
  }

  async loadSettings(): Promise<Partial<Settings>> {
    return this.guard(() => decodeSettings(this.stmt.settings.all()));
  }

  async loadIdentity(): Promise<StoreIdentity | null> {
    return this.guard(() => {
      if (this.db.prepare("SELECT 1 FROM meta WHERE key = 'restoring'").get()) throw new StoreUnavailableError(`${this.path}: ${RESTORE_UNFINISHED}`);
      const row = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'identity'").get();
      return row ? (JSON.parse(row.value) as StoreIdentity) : null;
    });
  }

  async saveIdentity(next: StoreIdentity, expected: StoreIdentity | null): Promise<StoreIdentity> {
    return this.guard(() => {
      const read = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'identity'");
      const swap = this.db.transaction(() => {
        const row = read.get();
        if ((row?.value ?? null) !== (expected ? canonical(expected) : null)) return;
        this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('identity', ?)").run(canonical(next));
      });
      swap.immediate();
      const row = read.get();
      if (!row) throw new StoreUnavailableError(`${this.path}: the store identity was not written`);
      return JSON.parse(row.value) as StoreIdentity;
    });
  }

  async purgeArchived(series: string): Promise<number> {
    await this.wholeFileChecked;
    return this.guard(() => {
      const purge = this.db.transaction(() => {
        const mark = archiveMarkOf(this.stmt.series.get(series));
        if (!mark) return 0;
        const events = this.db
          .prepare('DELETE FROM events WHERE series = ? AND seq IN (SELECT seq FROM events WHERE series = ? AND seq <= ? ORDER BY seq LIMIT ?)')
          .run(series, series, mark.headSeq, PURGE_PAGE).changes;
        const numbers = this.db
          .prepare('DELETE FROM numbers WHERE series = ? AND number IN (SELECT number FROM numbers WHERE series = ? LIMIT ?)')
          .run(series, series, PURGE_PAGE).changes;
        return events + numbers;
      });
      return purge.immediate();
    });
  }

  async health(): Promise<StoreHealth> {
    const integrityCheck = this.integrityCheck;
    if (this.damage) return { kind: this.kind, healthy: false, detail: { path: this.path, integrityCheck, error: this.damage.message } };
    try {
      this.db.prepare('SELECT 1').get();
      return { kind: this.kind, healthy: true, detail: { path: this.path, sizeBytes: fileBytes(this.path), integrityCheck } };
    } catch (error) {
      return { kind: this.kind, healthy: false, detail: { path: this.path, integrityCheck, error: String(error) } };
    }
  }

  async openSnapshot(): Promise<StoreSnapshot> {
    // A backup or a migration copies what the whole-file check has passed, not what it may refuse.
    await this.wholeFileChecked;
    return this.guard(() => new SqliteSnapshot(this.path));
  }

  openLoader(): StoreLoader {
    return new SqliteLoader(this.db, () => this.wholeFileChecked);
  }

  async close(): Promise<void> {
    this.stopCheck();
    await this.writer.close();
    if (this.db.open) this.db.close();
    this.unlock();
  }

  /**
   * The whole file is read once on a thread of its own while seqd serves. Damage found there
   * stops every read and commit from then on (fail closed): the file is restored from a backup.
   * A check that could not run counts as damage, since nothing then says the file is sound.
   */
  private checkAfterStart(report: NonNullable<SqliteStoreOptions['onIntegrityCheck']>): { stop(): void; checked: Promise<void> } {
    const check = checkWholeFileInBackground(this.path);
    let settle: (error?: Error) => void = () => undefined;
    const checked = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve());
    });
    // Awaited only by what frees pages; the damage itself is reported by health() and the log.
    checked.catch(() => undefined);
    let stopped = false;
    void check.result.then((reply) => {
      if (stopped) return;
      if (reply.ok && reply.problems.length === 0) {
        this.integrityCheck = 'passed after start';
        this.writer.allowSweep();
        settle();
        report({ ok: true, message: `integrity check of ${this.path} passed (the whole file, ${reply.ms} ms, while serving)` });
        return;
      }
      const problems = reply.ok ? reply.problems : [`the check could not run: ${reply.error}`];
      this.damage = damagedError(this.path, problems, 'after start');
      this.integrityCheck = 'failed after start';
      this.writer.refuse(this.damage);
      settle(this.damage);
      report({ ok: false, message: this.damage.message });
    });
    return {
      checked,
      stop: () => {
        stopped = true;
        settle(new StoreUnavailableError('embedded store closed'));
        check.stop();
      },
    };
  }

  private readState(series: string): SeriesState {
    // One read transaction: the writer thread commits on its own connection, and a batch landing
    // between the two reads would pair this state with the open gaps of a later one.
    return this.db.transaction(() => {
      const row = this.stmt.series.get(series);
      if (!row) throw new Error(`series ${series} missing after creation`);
      return toState(row, this.stmt.openGaps.all(series));
    })();
  }

  /** Any SQLite failure (disk full, I/O error, locked) becomes a retryable 503: nothing was committed. */
  private guard<T>(work: () => T): Promise<T> {
    if (this.damage) return Promise.reject(this.damage);
    try {
      return Promise.resolve(work());
    } catch (error) {
      if (error instanceof StoreUnavailableError) return Promise.reject(error);
      return Promise.reject(new StoreUnavailableError(`embedded store failed: ${String(error)}`, { cause: error }));
    }
  }
}

/**
 * Opens the file and brings its schema up to this version. A file written by a newer seqd, one whose
 * schema is not the one seqd makes (see `checkSchema`), or one that is not a readable SQLite
 * database, is refused with the path and what to do.
 */
function openDatabase(path: string, fullCheckMaxBytes: number): { db: Database.Database; trailUnchecked: boolean } {
  let db: Database.Database | null = null;
  try {
    db = configure(new Database(path));
    const { trailUnchecked } = checkBeforeServing(db, path, fullCheckMaxBytes);
    checkSchema(db, path);
    const open = db;
    // One transaction: a file is either not made yet or made whole, with its version.
    open.transaction(() => {
      open.exec(SQLITE_SCHEMA);
      addMissingColumns(open);
      open.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('schema_version', SCHEMA_VERSION);
      // Now of this version, it must be exactly seqd's: what opening added included. A refusal
      // rolls all of it back.
      checkSchema(open, path);
    })();
    return { db, trailUnchecked };
  } catch (error) {
    if (db?.open) db.close();
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`${path} cannot be opened as a seqd database (${(error as Error).message}): it is damaged or not a database; restore it from a backup`, { cause: error });
  }
}
