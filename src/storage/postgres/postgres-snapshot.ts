import type { ReservedSql } from 'postgres';
import type { InvoiceType, NumberRecord, RequestRecord, Settings } from '../../domain/types.js';
import { decodeRequest } from '../request-record-codec.js';
import type { StoreIdentity } from '../sequence-store.js';
import { decodeSettings } from '../settings-codec.js';
import { toEvent, toRecord, toState, type EventRow, type NumberRow, type SeriesRow } from '../sql-rows.js';
import type { SeriesImage, StoreSnapshot } from '../store-transfer.js';

type Db = ReservedSql<{ bigint: number }>;

/**
 * A snapshot of the PostgreSQL store: one repeatable-read, read-only transaction on a connection
 * of its own, so every read sees the database as of the first one while commits go on. Close it:
 * the server keeps the row versions it may need until then.
 */
export class PostgresSnapshot implements StoreSnapshot {
  private constructor(
    private readonly db: Db,
    private readonly q: string,
    readonly position: string,
  ) {}

  /** `q`: the quoted schema. The connection is released by `close`. */
  static async open(db: Db, q: string): Promise<PostgresSnapshot> {
    try {
      await db.unsafe('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // The transaction's view is fixed by its first statement: this one.
      const [at] = await db.unsafe<{ lsn: string }[]>('SELECT pg_current_wal_lsn()::text AS lsn');
      return new PostgresSnapshot(db, q, `postgres WAL ${at?.lsn ?? '?'}`);
    } catch (error) {
      db.release();
      throw error;
    }
  }

  async identity(): Promise<StoreIdentity | null> {
    const [row] = await this.db.unsafe<{ value: string }[]>(`SELECT value FROM ${this.q}.meta WHERE key = 'identity'`);
    return row ? (JSON.parse(row.value) as StoreIdentity) : null;
  }

  async settings(): Promise<Partial<Settings>> {
    return decodeSettings(await this.db.unsafe<{ key: string; value: string }[]>(`SELECT key, value FROM ${this.q}.settings`));
  }

  async listSeries(): Promise<string[]> {
    return (await this.db.unsafe<{ name: string }[]>(`SELECT name FROM ${this.q}.series ORDER BY name`)).map((r) => r.name);
  }

  async series(name: string): Promise<SeriesImage | null> {
    const [row] = await this.db.unsafe<SeriesRow[]>(`SELECT * FROM ${this.q}.series WHERE name = $1`, [name]);
    if (!row) return null;
    const gaps = await this.db.unsafe<NumberRow[]>(`SELECT * FROM ${this.q}.numbers WHERE series = $1 AND status = 'open' ORDER BY number`, [name]);
    const { version: _version, ...state } = toState(row, gaps);
    const totals = await this.db.unsafe<{ site_id: string; partition_id: string; invoice_type: string; issued: number; refilled: number; released: number }[]>(
      `SELECT site_id, partition_id, invoice_type, issued, refilled, released FROM ${this.q}.totals WHERE series = $1 ORDER BY 1, 2, 3`,
      [name],
    );
    return {
      state,
      totals: totals.map((t) => ({ siteId: t.site_id, partitionId: t.partition_id, invoiceType: t.invoice_type as InvoiceType, issued: t.issued, refilled: t.refilled, released: t.released })),
    };
  }

  async events(series: string, afterSeq: number, limit: number) {
    return (await this.db.unsafe<EventRow[]>(`SELECT * FROM ${this.q}.events WHERE series = $1 AND seq > $2 ORDER BY seq LIMIT $3`, [series, afterSeq, limit])).map(toEvent);
  }

  async numbers(series: string, afterNumber: number, limit: number): Promise<NumberRecord[]> {
    const after = Number.isFinite(afterNumber) ? afterNumber : Number.MIN_SAFE_INTEGER;
    return (await this.db.unsafe<NumberRow[]>(`SELECT * FROM ${this.q}.numbers WHERE series = $1 AND number > $2 ORDER BY number LIMIT $3`, [series, after, limit])).map(toRecord);
  }

  async requests(afterKey: string | null, limit: number): Promise<RequestRecord[]> {
    // COLLATE "C": byte order, the order every store pages keys in.
    const rows = await this.db.unsafe<{ key: string; series: string; record: string }[]>(
      `SELECT key, series, record FROM ${this.q}.requests WHERE key COLLATE "C" > $1 ORDER BY key COLLATE "C" LIMIT $2`,
      [afterKey ?? '', limit],
    );
    return rows.map((r) => decodeRequest(r.key, r.record, r.series));
  }

  async close(): Promise<void> {
    try {
      await this.db.unsafe('COMMIT');
    } finally {
      this.db.release();
    }
  }
}
