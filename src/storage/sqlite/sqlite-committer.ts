import type Database from 'better-sqlite3';
import type { CommitPlan } from '../../domain/planner.js';
import { encodeRequest } from '../request-record-codec.js';
import { requestCutoff } from '../request-retention.js';

/** How far inside the idempotency window a key's record stops guarding it (see `apply`). */
const KEY_GUARD_MARGIN_MS = 60_000;

/** What a commit answers before the caller reads the current state on a conflict. */
export type CommitOutcome =
  | { readonly status: 'committed'; readonly version: string }
  | { readonly status: 'conflict' }
  /** Refused: the store is in maintenance (nothing written). */
  | { readonly status: 'maintenance' };

/** Opens a connection with the durability settings every seqd connection uses. */
export function configure(db: Database.Database): Database.Database {
  db.pragma('journal_mode = WAL');
  // FULL: a commit returns only after the WAL is fsync'd; a crash loses no acknowledged batch.
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * The write half of the embedded store: one atomic transaction per batch, comparing the series
 * version it was planned on, idempotent on the batch id. Runs in the store's writer thread so that
 * the fsync of a commit never blocks request handling.
 */
export class SqliteCommitter {
  private readonly stmt;

  private lastSweep = 0;

  /**
   * `requestWindowMs`: how long idempotency records are kept (older ones are deleted).
   * `sweepHeld`: no record is deleted until {@link allowSweep} (the file's check is still running).
   */
  constructor(
    private readonly db: Database.Database,
    private readonly requestWindowMs = 24 * 3600_000,
    private sweepHeld = false,
  ) {
    this.stmt = {
      batch: db.prepare<[string], { version: number }>('SELECT version FROM batches WHERE batch_id = ?'),
      insertBatch: db.prepare<[string, string, number, number]>(
        'INSERT INTO batches (batch_id, series, version, committed_at) VALUES (?, ?, ?, ?)',
      ),
      // The base hash too: a batch planned on a predecessor that did not land can never match,
      // even if another writer happened to bring the version to the same number.
      updateSeries: db.prepare<[number, number, number, string, number, number, number, number, number | null, number, string, number, string]>(
        `UPDATE series SET hwm = ?, version = ?, event_seq = ?, last_hash = ?,
           issued = ?, refilled = ?, released = ?, voided = ?, closed_at = ?, last_ts = ?
         WHERE name = ? AND version = ? AND last_hash = ?`,
      ),
      insertEvent: db.prepare<(string | number | null)[]>(
        `INSERT INTO events (series, seq, ts, type, first, last, site_id, partition_id, invoice_type,
           reason, request_id, batch_id, node, prev_hash, hash, allocation, actor)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      upsertNumber: db.prepare<[string, number, string, string, string, string, string | null, number, number, string | null]>(
        `INSERT INTO numbers (series, number, status, site_id, partition_id, invoice_type, reason, changed_at, grant_seq, previous)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (series, number) DO UPDATE SET status = excluded.status, site_id = excluded.site_id,
           partition_id = excluded.partition_id, invoice_type = excluded.invoice_type,
           reason = excluded.reason, changed_at = excluded.changed_at, grant_seq = excluded.grant_seq,
           previous = excluded.previous`,
      ),
      addTotals: db.prepare<[string, string, string, string, number, number, number]>(
        `INSERT INTO totals (series, site_id, partition_id, invoice_type, issued, refilled, released)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET issued = issued + excluded.issued, refilled = refilled + excluded.refilled,
           released = released + excluded.released`,
      ),
      // An expired record of the same key may still be there: the new request replaces it.
      putRequest: db.prepare<[string, string, string, number]>(
        'INSERT OR REPLACE INTO requests (series, key, record, committed_at) VALUES (?, ?, ?, ?)',
      ),
      sweepRequests: db.prepare<[number]>('DELETE FROM requests WHERE committed_at < ?'),
      newestRequest: db.prepare<[], { at: number | null }>('SELECT MAX(committed_at) AS at FROM requests'),
      keyTaken: db.prepare<[string, number], { series: string }>('SELECT series FROM requests WHERE key = ? AND committed_at >= ? LIMIT 1'),
      maintenance: db.prepare<[], { value: string }>("SELECT value FROM settings WHERE key = 'maintenance'"),
      migrated: db.prepare<[], { value: string }>("SELECT value FROM settings WHERE key = 'migratedTo'"),
      setArchive: db.prepare<[string, string]>('UPDATE series SET archive = ? WHERE name = ?'),
      putSetting: db.prepare<[string, string]>(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
  }

  /**
   * Applies the plans in order in ONE transaction, so one fsync makes them all durable (plans of
   * one series may be planned on each other's results; a plan whose base is not the stored state
   * answers conflict and writes nothing). All or nothing if SQLite itself fails.
   */
  commitAll(plans: readonly CommitPlan[]): CommitOutcome[] {
    return this.db.transaction(() => {
      const now = Date.now();
      // Expired idempotency records go once a minute, inside a commit that is being made anyway.
      if (!this.sweepHeld && now - this.lastSweep > 60_000) {
        this.lastSweep = now;
        // Any process that opens the file commits here: bounded by the newest record too.
        const newest = this.stmt.newestRequest.get()?.at ?? null;
        this.stmt.sweepRequests.run(requestCutoff(now, newest, this.requestWindowMs));
      }
      // Read inside the write transaction: a switch committed before it is seen, and none can
      // commit during it (SQLite has one writer).
      let maintenance = this.stmt.maintenance.get()?.value === 'true';
      const migrated = this.stmt.migrated.get() !== undefined;
      return plans.map((plan) => {
        // Refused: an ordinary batch while maintenance is on, a switch-off of a store migrated
        // away. A re-sent batch that landed before the switch is answered committed (apply).
        const refused = (maintenance && plan.maintenance === undefined) || (migrated && plan.maintenance === false);
        if (refused && !this.stmt.batch.get(plan.batchId)) return { status: 'maintenance' as const };
        const outcome = this.apply(plan);
        if (outcome.status === 'committed' && plan.maintenance !== undefined) maintenance = plan.maintenance;
        return outcome;
      });
    }).immediate();
  }

  /**
   * Deleting records frees pages; until the whole file was checked, a damaged page the check has
   * not reached yet could give a live page of another table to the allocator.
   */
  allowSweep(): void {
    this.sweepHeld = false;
  }

  private apply(plan: CommitPlan): CommitOutcome {
    const s = this.stmt;
    const done = s.batch.get(plan.batchId);
    if (done) return { status: 'committed', version: String(done.version) };
    // A key already recorded (in any series) was planned as new on a stale lookup, or committed
    // on the other side of a period change: nothing is written, and the re-plan finds the record.
    // The guard starts a minute inside the window, so that a record the planner took as expired
    // can never hold a new one back.
    const guardFrom = Date.now() - this.requestWindowMs + KEY_GUARD_MARGIN_MS;
    if (plan.requests.some((r) => s.keyTaken.get(r.key, guardFrom))) return { status: 'conflict' };
    const base = Number(plan.baseVersion);
    const version = base + 1;
    const n = plan.next;
    const c = n.counters;
    const changed = s.updateSeries.run(
      n.hwm, version, n.eventSeq, n.lastHash, c.issued, c.refilled, c.released, c.voided, n.closedAt, n.lastEventAt, plan.series, base, plan.baseHash,
    ).changes;
    if (changed !== 1) return { status: 'conflict' };
    if (n.archived) s.setArchive.run(JSON.stringify(n.archived), plan.series);
    for (const e of plan.events) {
      s.insertEvent.run(
        e.series, e.seq, e.ts, e.type, e.first, e.last, e.siteId, e.partitionId, e.invoiceType,
        e.reason, e.requestId, e.batchId, e.node, e.prevHash, e.hash, e.allocation, e.actor,
      );
    }
    for (const ch of plan.numberChanges) {
      const previous = ch.previous ? JSON.stringify(ch.previous) : null;
      s.upsertNumber.run(plan.series, ch.number, ch.status, ch.siteId, ch.partitionId, ch.invoiceType, ch.reason, plan.committedAt, ch.grant, previous);
    }
    for (const t of plan.totals) {
      s.addTotals.run(plan.series, t.siteId, t.partitionId, t.invoiceType, t.issued, t.refilled, t.released);
    }
    for (const r of plan.requests) s.putRequest.run(plan.series, r.key, encodeRequest(r), r.committedAt);
    for (const [key, value] of Object.entries(plan.settings ?? {})) s.putSetting.run(key, JSON.stringify(value));
    if (plan.maintenance !== undefined) s.putSetting.run('maintenance', JSON.stringify(plan.maintenance));
    if (plan.migratedTo !== undefined) s.putSetting.run('migratedTo', JSON.stringify(plan.migratedTo));
    s.insertBatch.run(plan.batchId, plan.series, version, plan.committedAt);
    return { status: 'committed', version: String(version) };
  }
}
