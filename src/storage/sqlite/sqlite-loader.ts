import type Database from 'better-sqlite3';
import { canonical } from '../../domain/numbering-profile.js';
import type { AuditEvent, NumberRecord, RequestRecord, Settings } from '../../domain/types.js';
import { encodeRequest } from '../request-record-codec.js';
import type { StoreIdentity } from '../sequence-store.js';
import { restoredVersion, type SeriesImage, type StoreContents, type StoreLoader } from '../store-transfer.js';

/** Tables a replacing restore empties (meta keeps the schema version). */
const DATA_TABLES = ['series', 'events', 'numbers', 'batches', 'totals', 'requests', 'settings'] as const;

/**
 * Loads a backup into the embedded store through its own connection, one transaction per call
 * (each fsync'd). Run only on a data directory no seqd serves: the caller holds its lock.
 */
export class SqliteLoader implements StoreLoader {
  /** `freeable`: settles once pages may be freed (the file's check after start passed). */
  constructor(
    private readonly db: Database.Database,
    private readonly freeable: () => Promise<void> = () => Promise.resolve(),
  ) {}

  async contents(): Promise<StoreContents> {
    const heads = new Map(this.db.prepare<[], { name: string; event_seq: number }>('SELECT name, event_seq FROM series').all().map((r) => [r.name, r.event_seq]));
    const identity = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'identity'").get();
    const moved = this.db.prepare<[], { value: string }>("SELECT value FROM settings WHERE key = 'migratedTo'").get();
    return { storeId: identity ? (JSON.parse(identity.value) as StoreIdentity).storeId : null, heads, instances: [], migratedTo: moved ? (JSON.parse(moved.value) as string) : null };
  }

  async begin(replace: boolean): Promise<void> {
    // Emptying the tables frees their pages: not before the whole file is known to be sound.
    if (replace) await this.freeable();
    this.db.transaction(() => {
      if (replace) {
        for (const t of DATA_TABLES) this.db.exec(`DELETE FROM ${t}`);
        this.db.exec("DELETE FROM meta WHERE key = 'identity'");
      }
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('restoring', ?)").run(new Date().toISOString());
      this.db.prepare("INSERT OR REPLACE INTO settings (key, value) VALUES ('maintenance', 'true')").run();
    }).immediate();
  }

  async putIdentity(identity: StoreIdentity): Promise<void> {
    this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('identity', ?)").run(canonical(identity));
  }

  async putSettings(settings: Partial<Settings>): Promise<void> {
    const put = this.db.prepare<[string, string]>('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(settings)) put.run(key, JSON.stringify(value));
    })();
  }

  async putSeries(image: SeriesImage, numbers: readonly NumberRecord[]): Promise<void> {
    const s = image.state;
    const c = s.counters;
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO series (name, start, hwm, version, event_seq, last_hash, issued, refilled, released, voided, closed_at, last_ts, archive)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(s.series, s.start, s.hwm, restoredVersion(), s.eventSeq, s.lastHash, c.issued, c.refilled, c.released, c.voided, s.closedAt, s.lastEventAt, s.archived ? JSON.stringify(s.archived) : null);
      const total = this.db.prepare('INSERT INTO totals (series, site_id, partition_id, invoice_type, issued, refilled, released) VALUES (?, ?, ?, ?, ?, ?, ?)');
      for (const t of image.totals) total.run(s.series, t.siteId, t.partitionId, t.invoiceType, t.issued, t.refilled, t.released);
      const num = this.db.prepare(
        `INSERT INTO numbers (series, number, status, site_id, partition_id, invoice_type, reason, changed_at, grant_seq, previous)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const n of numbers) {
        num.run(s.series, n.number, n.status, n.siteId, n.partitionId, n.invoiceType, n.reason, n.changedAt, n.grant, n.previous ? JSON.stringify(n.previous) : null);
      }
    }).immediate();
  }

  async putEvents(_series: string, events: readonly AuditEvent[]): Promise<void> {
    const put = this.db.prepare(
      `INSERT INTO events (series, seq, ts, type, first, last, site_id, partition_id, invoice_type,
         reason, request_id, batch_id, node, prev_hash, hash, allocation, actor)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (const e of events) {
        put.run(e.series, e.seq, e.ts, e.type, e.first, e.last, e.siteId, e.partitionId, e.invoiceType, e.reason, e.requestId, e.batchId, e.node, e.prevHash, e.hash, e.allocation, e.actor);
      }
    }).immediate();
  }

  async putRequests(records: readonly RequestRecord[]): Promise<void> {
    const put = this.db.prepare('INSERT OR REPLACE INTO requests (series, key, record, committed_at) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const r of records) put.run(r.series, r.key, encodeRequest(r), r.committedAt);
    }).immediate();
  }

  async finish(maintenance: string | null): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare("INSERT OR REPLACE INTO settings (key, value) VALUES ('maintenance', ?)").run(JSON.stringify(maintenance !== null));
      this.db.prepare("DELETE FROM meta WHERE key = 'restoring'").run();
    }).immediate();
  }
}
