import Database from 'better-sqlite3';
import type { InvoiceType, Settings } from '../../domain/types.js';
import { decodeRequest } from '../request-record-codec.js';
import type { StoreIdentity } from '../sequence-store.js';
import { toEvent, toRecord, toState, type EventRow, type NumberRow, type SeriesRow } from '../sql-rows.js';
import type { SeriesImage, StoreSnapshot } from '../store-transfer.js';
import { decodeSettings } from '../settings-codec.js';

/**
 * A snapshot of the embedded store: its own read-only connection holding one read transaction, so
 * every read sees the database as of the first one (WAL mode lets the writer go on meanwhile; the
 * WAL cannot be checkpointed past this point until the snapshot closes).
 */
export class SqliteSnapshot implements StoreSnapshot {
  readonly position: string;
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      this.db.exec('BEGIN');
      // The read transaction's view starts with its first read.
      const { n } = this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM series').get() ?? { n: 0 };
      this.position = `sqlite read transaction (${n} series)`;
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  async identity(): Promise<StoreIdentity | null> {
    const row = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'identity'").get();
    return row ? (JSON.parse(row.value) as StoreIdentity) : null;
  }

  async settings(): Promise<Partial<Settings>> {
    return decodeSettings(this.db.prepare<[], { key: string; value: string }>('SELECT key, value FROM settings').all());
  }

  async listSeries(): Promise<string[]> {
    return this.db.prepare<[], { name: string }>('SELECT name FROM series ORDER BY name').all().map((r) => r.name);
  }

  async series(name: string): Promise<SeriesImage | null> {
    const row = this.db.prepare<[string], SeriesRow>('SELECT * FROM series WHERE name = ?').get(name);
    if (!row) return null;
    const gaps = this.db.prepare<[string], NumberRow>("SELECT * FROM numbers WHERE series = ? AND status = 'open' ORDER BY number").all(name);
    const { version: _version, ...state } = toState(row, gaps);
    const totals = this.db
      .prepare<[string], { site_id: string; partition_id: string; invoice_type: string; issued: number; refilled: number; released: number }>(
        'SELECT site_id, partition_id, invoice_type, issued, refilled, released FROM totals WHERE series = ? ORDER BY 1, 2, 3',
      )
      .all(name)
      .map((t) => ({ siteId: t.site_id, partitionId: t.partition_id, invoiceType: t.invoice_type as InvoiceType, issued: t.issued, refilled: t.refilled, released: t.released }));
    return { state, totals };
  }

  async events(series: string, afterSeq: number, limit: number) {
    return this.db.prepare<[string, number, number], EventRow>('SELECT * FROM events WHERE series = ? AND seq > ? ORDER BY seq LIMIT ?').all(series, afterSeq, limit).map(toEvent);
  }

  async numbers(series: string, afterNumber: number, limit: number) {
    const after = Number.isFinite(afterNumber) ? afterNumber : Number.MIN_SAFE_INTEGER;
    return this.db.prepare<[string, number, number], NumberRow>('SELECT * FROM numbers WHERE series = ? AND number > ? ORDER BY number LIMIT ?').all(series, after, limit).map(toRecord);
  }

  async requests(afterKey: string | null, limit: number) {
    // A key recorded in two series (possible in stores from before keys spanned series): the
    // newest record is the one lookups answer, and the one kept.
    return this.db
      .prepare<[string, number], { key: string; series: string; record: string }>(
        'SELECT key, series, record, max(committed_at) FROM requests WHERE key > ? GROUP BY key ORDER BY key LIMIT ?',
      )
      .all(afterKey ?? '', limit)
      .map((r) => decodeRequest(r.key, r.record, r.series));
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    try {
      this.db.exec('COMMIT');
    } finally {
      this.db.close();
    }
  }
}
