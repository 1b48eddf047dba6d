import type { Sql, TransactionSql } from 'postgres';
import { canonical } from '../../domain/numbering-profile.js';
import type { AuditEvent, NumberRecord, RequestRecord, Settings } from '../../domain/types.js';
import { encodeRequest } from '../request-record-codec.js';
import type { StoreIdentity } from '../sequence-store.js';
import { restoredVersion, type SeriesImage, type StoreContents, type StoreLoader } from '../store-transfer.js';

type Db = Sql<{ bigint: number }>;
/** Runs `work` in one transaction with seqd's settings (see `PostgresStore`). */
export type Begin = <R>(work: (tx: TransactionSql<{ bigint: number }>) => Promise<R>) => Promise<R>;
type Value = string | number | null;

/** Tables a replacing restore empties (meta keeps the schema version). */
const DATA_TABLES = ['series', 'events', 'numbers', 'batches', 'totals', 'requests', 'settings'] as const;
/** Rows per INSERT: PostgreSQL takes at most 65,535 parameters in one statement. */
const ROWS_PER_INSERT = 2000;

/** Loads a backup into the PostgreSQL store, one transaction per call. Only for a store no seqd serves. */
export class PostgresLoader implements StoreLoader {
  constructor(
    private readonly sql: Db,
    /** The quoted schema. */
    private readonly q: string,
    private readonly transaction: Begin,
  ) {}

  async contents(): Promise<StoreContents> {
    const rows = await this.sql.unsafe<{ name: string; event_seq: number }[]>(`SELECT name, event_seq FROM ${this.q}.series`);
    const [identity] = await this.sql.unsafe<{ value: string }[]>(`SELECT value FROM ${this.q}.meta WHERE key = 'identity'`);
    const [moved] = await this.sql.unsafe<{ value: string }[]>(`SELECT value FROM ${this.q}.settings WHERE key = 'migratedTo'`);
    return {
      storeId: identity ? (JSON.parse(identity.value) as StoreIdentity).storeId : null,
      heads: new Map(rows.map((r) => [r.name, r.event_seq])),
      instances: [],
      migratedTo: moved ? (JSON.parse(moved.value) as string) : null,
    };
  }

  async begin(replace: boolean): Promise<void> {
    // One transaction: TRUNCATE locks the tables, so a commit of a seqd still serving waits for it
    // and then finds maintenance on.
    await this.transaction(async (tx) => {
      if (replace) {
        await tx.unsafe(`TRUNCATE ${DATA_TABLES.map((t) => `${this.q}.${t}`).join(', ')}`);
        await tx.unsafe(`DELETE FROM ${this.q}.meta WHERE key = 'identity'`);
      }
      await tx.unsafe(`INSERT INTO ${this.q}.meta (key, value) VALUES ('restoring', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [new Date().toISOString()]);
      await tx.unsafe(`INSERT INTO ${this.q}.settings (key, value) VALUES ('maintenance', 'true') ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
    });
  }

  async putIdentity(identity: StoreIdentity): Promise<void> {
    await this.sql.unsafe(`INSERT INTO ${this.q}.meta (key, value) VALUES ('identity', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [canonical(identity)]);
  }

  async putSettings(settings: Partial<Settings>): Promise<void> {
    await this.insert('settings', ['key', 'value'], Object.entries(settings).map(([k, v]) => [k, JSON.stringify(v)]));
  }

  async putSeries(image: SeriesImage, numbers: readonly NumberRecord[]): Promise<void> {
    const s = image.state;
    const c = s.counters;
    await this.transaction(async (tx) => {
      await tx.unsafe(
        `INSERT INTO ${this.q}.series (name, start, hwm, version, event_seq, last_hash, issued, refilled, released, voided, closed_at, last_ts, archive)
         VALUES ($1, $2, $3, $13, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (name) DO UPDATE SET start = excluded.start, hwm = excluded.hwm, version = ${this.q}.series.version + 1, event_seq = excluded.event_seq,
           last_hash = excluded.last_hash, issued = excluded.issued, refilled = excluded.refilled, released = excluded.released, voided = excluded.voided,
           closed_at = excluded.closed_at, last_ts = excluded.last_ts, archive = excluded.archive`,
        [s.series, s.start, s.hwm, s.eventSeq, s.lastHash, c.issued, c.refilled, c.released, c.voided, s.closedAt, s.lastEventAt, s.archived ? JSON.stringify(s.archived) : null, restoredVersion()],
      );
      const totals = image.totals.map((t): Value[] => [s.series, t.siteId, t.partitionId, t.invoiceType, t.issued, t.refilled, t.released]);
      await this.insert('totals', ['series', 'site_id', 'partition_id', 'invoice_type', 'issued', 'refilled', 'released'], totals, tx);
      const rows = numbers.map((n): Value[] => [s.series, n.number, n.status, n.siteId, n.partitionId, n.invoiceType, n.reason, n.changedAt, n.grant, n.previous ? JSON.stringify(n.previous) : null]);
      await this.insert('numbers', ['series', 'number', 'status', 'site_id', 'partition_id', 'invoice_type', 'reason', 'changed_at', 'grant_seq', 'previous'], rows, tx);
    });
  }

  async putEvents(_series: string, events: readonly AuditEvent[]): Promise<void> {
    const rows = events.map((e): Value[] => [
      e.series, e.seq, e.ts, e.type, e.first, e.last, e.siteId, e.partitionId, e.invoiceType, e.reason, e.requestId, e.batchId, e.node, e.allocation, e.actor, e.prevHash, e.hash,
    ]);
    const columns = ['series', 'seq', 'ts', 'type', 'first', 'last', 'site_id', 'partition_id', 'invoice_type', 'reason', 'request_id', 'batch_id', 'node', 'allocation', 'actor', 'prev_hash', 'hash'];
    await this.transaction((tx) => this.insert('events', columns, rows, tx));
  }

  async putRequests(records: readonly RequestRecord[]): Promise<void> {
    await this.insert('requests', ['key', 'series', 'record', 'committed_at'], records.map((r) => [r.key, r.series, encodeRequest(r), r.committedAt]));
  }

  async finish(maintenance: string | null): Promise<void> {
    await this.transaction(async (tx) => {
      await tx.unsafe(`INSERT INTO ${this.q}.settings (key, value) VALUES ('maintenance', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [JSON.stringify(maintenance !== null)]);
      await tx.unsafe(`DELETE FROM ${this.q}.meta WHERE key = 'restoring'`);
    });
  }

  /** Multi-row INSERTs of `rows`, within PostgreSQL's parameter limit. */
  private async insert(table: string, columns: readonly string[], rows: readonly Value[][], db: Pick<Db, 'unsafe'> = this.sql): Promise<void> {
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      const page = rows.slice(i, i + ROWS_PER_INSERT);
      const values = page.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
      await db.unsafe(`INSERT INTO ${this.q}.${table} (${columns.join(', ')}) VALUES ${values}`, page.flat());
    }
  }
}
