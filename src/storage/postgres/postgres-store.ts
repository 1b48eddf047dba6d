import postgres, { type PendingQuery, type ReservedSql, type Row, type Sql, type TransactionSql } from 'postgres';
import { GENESIS_HASH } from '../../domain/audit-chain.js';
import { MaintenanceError, OutcomeUnknownError, StoreUnavailableError } from '../../domain/errors/index.js';
import { canonical } from '../../domain/numbering-profile.js';
import type { CommitPlan } from '../../domain/planner.js';
import type { AuditEvent, InvoiceType, NumberRecord, SeriesState, Settings } from '../../domain/types.js';
import { decodeSettings } from '../settings-codec.js';
import { decodeRequest, encodeRequest } from '../request-record-codec.js';
import {
  RequestLookup,
  type AuditQuery,
  type CommitResult,
  type NumberQuery,
  type SequenceStore,
  type StoreHealth,
  type StoreIdentity,
  type TotalsRow,
} from '../sequence-store.js';
import { archiveMarkOf, issuedRecord, toEvent, toRecord, toState, type EventRow, type NumberRow, type SeriesRow } from '../sql-rows.js';
import { migrateSchema, quoteIdent, type MigrationReport } from './postgres-migrations.js';
import { rangeLookupSql } from './postgres-schema.js';
import { readReplication } from './postgres-replication.js';
import { PostgresLoader } from './postgres-loader.js';
import { PostgresSnapshot } from './postgres-snapshot.js';
import { connectionSettings, localSettings, synchronousCommitProblem, withLocalSettings, type PoolerMode } from './postgres-session.js';
import { MAINTENANCE_MESSAGE, migratedMessage, RESTORE_UNFINISHED, type StoreLoader, type StoreSnapshot } from '../store-transfer.js';
import { requestCutoff } from '../request-retention.js';

export interface PostgresStoreOptions {
  /** postgres://user@host1:5432,host2:5432/db: several hosts are tried in turn, only a primary is used. */
  readonly url: string;
  readonly password?: string | undefined;
  /** Schema holding seqd's tables (created and migrated at start). */
  readonly schema?: string | undefined;
  readonly poolSize?: number | undefined;
  /** Server-side limit of one statement (ms). */
  readonly statementTimeoutMs?: number | undefined;
  /** TLS: true (verify against the system CAs) or the CA, client certificate and key (PEM). */
  readonly tls?: { readonly ca?: Buffer | undefined; readonly cert?: Buffer | undefined; readonly key?: Buffer | undefined } | undefined;
  /** How long idempotency records are kept (default 24 h). */
  readonly requestWindowMs?: number | undefined;
  /**
   * How long a commit may wait for its answer (its WAL flush and synchronous standbys) before it
   * reports an unknown outcome, and how long settling a lost answer may take (ms; default 10 s).
   */
  readonly resolveTimeoutMs?: number | undefined;
  /**
   * Named prepared statements for the statements of every commit and the key lookup: the server
   * parses each once per connection instead of at every batch. Default: true, but false with
   * `pooler: 'transaction'`, which loses a connection's prepared statements between transactions
   * (PgBouncer before 1.21, or later without `max_prepared_statements`).
   */
  readonly preparedStatements?: boolean | undefined;
  /**
   * A connection pooler between seqd and the server (default `none`). Behind one, seqd sends no
   * settings when it connects (PgBouncer refuses them); each of its transactions sets
   * `synchronous_commit` and `statement_timeout` itself, and `open` refuses a server whose own
   * `synchronous_commit` would let a write outside them answer before it is durable.
   */
  readonly pooler?: PoolerMode | undefined;
}

/** The driver prepares a statement sent with `unsafe` only when asked (and `prepare` is on). */
const PREPARED = { prepare: true } as const;

/** How far inside the idempotency window a key's record stops guarding it (as the embedded store). */
const KEY_GUARD_MARGIN_MS = 60_000;
/** Rows of each kind one call of `purgeArchived` deletes: short transactions. */
const PURGE_PAGE = 5000;

/** The plan lost its compare-and-swap (version, hash or a key): nothing of it may land. */
class Conflict extends Error {}

/**
 * PostgreSQL store: one transaction per batch, the compare-and-swap on the series version and
 * hash inside it (`UPDATE … WHERE version = $base AND last_hash = $hash`), the batch id recorded
 * in the same transaction. Every connection runs with `synchronous_commit = on`: a commit answers
 * only once its WAL is flushed (and, with `synchronous_standby_names`, on a standby too). A commit
 * whose answer is lost (connection broken, primary gone) is settled by reading its batch id back
 * under the series row lock, which a transaction still committing holds until it is done.
 */
export class PostgresStore implements SequenceStore {
  readonly kind = 'postgres' as const;
  readonly limits = { maxOpsPerBatch: 2000 };
  private readonly sql: Sql<{ bigint: number }>;
  private readonly q: string;
  private readonly requestWindowMs: number;
  /** Names the advisory lock gating commits against a maintenance switch (one per schema). */
  private readonly gateName: string;
  private ready: Promise<void> | null = null;
  /**
   * Waits for synchronous replication that were cancelled (a WARNING the server sends with the
   * COMMIT reply: committed locally, maybe not on the standby). A commit that saw this count
   * move may be lost by a failover: it is answered as an unknown outcome, never as committed.
   */
  private syncWaitsCancelled = 0;
  private readonly pooler: PoolerMode;
  private readonly statementTimeoutMs: number;

  constructor(private readonly o: PostgresStoreOptions) {
    this.pooler = o.pooler ?? 'none';
    this.statementTimeoutMs = o.statementTimeoutMs ?? 5000;
    this.q = quoteIdent(o.schema ?? 'seqd');
    this.gateName = `seqd maintenance gate ${o.schema ?? 'seqd'}`;
    this.requestWindowMs = o.requestWindowMs ?? 24 * 3600_000;
    this.sql = postgres(o.url, {
      max: o.poolSize ?? 10,
      prepare: o.preparedStatements ?? this.pooler !== 'transaction',
      // A pooler in transaction mode may hand the server connection to another client once a
      // statement outside a transaction is answered, while the next one pipelined behind it on the
      // same connection is on its way (PgBouncer 1.18 then never answers it): one at a time there.
      ...(this.pooler === 'transaction' ? { max_pipeline: 1 } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      // Only a server that takes writes: after a failover the pool finds the new primary.
      target_session_attrs: 'read-write',
      connect_timeout: 5,
      idle_timeout: 60,
      // The driver's own reconnect backoff grows to 20 s (3^n / 100 s); after a failover that
      // kept clients waiting seconds after the new primary was up. Retry at least every 250 ms.
      backoff: reconnectBackoffSeconds,
      onnotice: (notice) => {
        if (isSyncWaitCancelled(notice)) this.syncWaitsCancelled++;
      },
      ...(o.tls ? { ssl: { ...(o.tls.ca ? { ca: o.tls.ca } : {}), ...(o.tls.cert ? { cert: o.tls.cert } : {}), ...(o.tls.key ? { key: o.tls.key } : {}) } } : {}),
      // Durable before the reply, whatever the server's default says.
      connection: connectionSettings(this.pooler, this.statementTimeoutMs),
      // bigint columns as numbers: every value seqd stores is below 2^53.
      types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: parseSafeInteger } },
    });
  }

  /** Checks the server keeps commits and brings the schema up to date; run once before anything else. */
  open(): Promise<void> {
    this.ready ??= (async () => {
      const [fsync] = await this.sql.unsafe<{ fsync: string }[]>('SHOW fsync');
      if (fsync?.fsync !== 'on') {
        throw new StoreUnavailableError('PostgreSQL runs with fsync = off: a crash would lose acknowledged numbers; seqd refuses to use it (set fsync = on)');
      }
      // What a connection really runs with: a pooler may have dropped what seqd sent when it
      // connected, and a setting in the URL wins over it; behind a pooler, the server's own.
      const [row] = await this.sql.unsafe<{ synchronous_commit: string }[]>('SHOW synchronous_commit');
      const problem = synchronousCommitProblem(row?.synchronous_commit, this.pooler);
      if (problem) throw new StoreUnavailableError(problem);
      if (hostsOf(this.o.url) > 1) {
        const [sync] = await this.sql.unsafe<{ synchronous_standby_names: string }[]>('SHOW synchronous_standby_names');
        if (!sync?.synchronous_standby_names) {
          throw new StoreUnavailableError(
            'PostgreSQL: the URL lists several hosts for failover, but the primary has no synchronous standby (synchronous_standby_names is empty): a failover would lose acknowledged numbers; configure synchronous replication or list one host',
          );
        }
      }
      await migrateSchema(this.sql, this.o.schema ?? 'seqd');
    })().catch((error: unknown) => {
      this.ready = null;
      throw wrap(error, 'PostgreSQL store could not be opened');
    });
    return this.ready;
  }

  /** The schema's version and the migrations this seqd would apply, without applying them. */
  async pendingMigrations(): Promise<MigrationReport> {
    try {
      return await migrateSchema(this.sql, this.o.schema ?? 'seqd', { dryRun: true });
    } catch (error) {
      throw wrap(error, 'PostgreSQL schema could not be read');
    }
  }

  async loadSeries(series: string, start: number): Promise<SeriesState> {
    return this.read(async () => {
      // Inserting only when missing: the insert would wait on the row lock of a commit in progress.
      const state = await this.readState(series);
      if (state) return state;
      await this.write(
        `INSERT INTO ${this.q}.series (name, start, hwm, version, event_seq, last_hash) VALUES ($1, $2, $3, 0, 0, $4) ON CONFLICT (name) DO NOTHING`,
        [series, start, start - 1, GENESIS_HASH],
      );
      const created = await this.readState(series);
      if (!created) throw new Error(`series ${series} missing after creation`);
      return created;
    });
  }

  async moveEmptySeriesStart(series: string, start: number, version: string): Promise<SeriesState> {
    return this.read(async () => {
      await this.write(
        `UPDATE ${this.q}.series SET start = $1, hwm = $2, version = version + 1 WHERE name = $3 AND version = $4 AND event_seq = 0 AND closed_at IS NULL`,
        [start, start - 1, series, Number(version)],
      );
      const state = await this.readState(series);
      if (!state) throw new Error(`series ${series} missing`);
      return state;
    });
  }

  async lookupNumbers(series: string, numbers: readonly number[]): Promise<Map<number, NumberRecord>> {
    return this.read(async () => {
      const found = new Map<number, NumberRecord>();
      if (numbers.length === 0) return found;
      const list = [...numbers];
      const rows = await this.sql.unsafe<NumberRow[]>(`SELECT * FROM ${this.q}.numbers WHERE series = $1 AND number = ANY($2::bigint[])`, [series, list]);
      for (const r of rows) found.set(r.number, toRecord(r));
      // The holder of a counter number: the issue range with the greatest first <= n. Below every
      // issue range, a legacy import's: an import only starts a series that issued nothing, so a
      // number with an issue range below it is in no import (and the number after the HWM, looked
      // up at every load, does not walk the trail for one).
      let rest = list.filter((n) => !found.has(n));
      for (const type of ['issue', 'import'] as const) {
        if (rest.length === 0) break;
        const ranges = await this.sql.unsafe<(EventRow & { num: number })[]>(rangeLookupSql(this.q, type), [series, rest]);
        for (const r of ranges) if (r.last !== null && r.last >= r.num) found.set(r.num, issuedRecord(r.num, r));
        const below = new Set(ranges.map((r) => r.num));
        rest = rest.filter((n) => !below.has(n));
      }
      return found;
    });
  }

  async seriesVersion(series: string): Promise<string | null> {
    return this.read(async () => {
      const [row] = await this.sql.unsafe<{ version: number }[]>(`SELECT version FROM ${this.q}.series WHERE name = $1`, [series]);
      return row ? String(row.version) : null;
    });
  }

  async lookupRequests(_series: string, keys: readonly string[], notBefore: number): Promise<RequestLookup> {
    // No versions: the commit checks keys itself (the key is the primary key of its record).
    return this.read(async () => {
      const found = new RequestLookup();
      if (keys.length === 0) return found;
      const rows = await this.sql.unsafe<{ key: string; series: string; record: string }[]>(
        `SELECT key, series, record FROM ${this.q}.requests WHERE key = ANY($1::text[]) AND committed_at >= $2`,
        [[...keys], notBefore],
        PREPARED,
      );
      for (const r of rows) found.set(r.key, decodeRequest(r.key, r.record, r.series));
      return found;
    });
  }

  async commit(plan: CommitPlan): Promise<CommitResult> {
    await this.open();
    const cancelsBefore = this.syncWaitsCancelled;
    try {
      const version = await this.withinDeadline(this.send(plan));
      if (this.syncWaitsCancelled !== cancelsBefore) {
        throw new OutcomeUnknownError(`PostgreSQL: batch ${plan.batchId} committed on the primary, but a wait for its synchronous standby was cancelled: a failover may lose it`);
      }
      return { status: 'committed', version };
    } catch (error) {
      if (error instanceof OutcomeUnknownError) throw error;
      if (error instanceof Conflict || error instanceof postgres.PostgresError) return this.afterRefusal(plan, error);
      return this.settle(plan, error);
    }
  }

  /**
   * This attempt was refused: its compare-and-swap matched no row, a key it takes is another
   * commit's, or a statement failed. The series state is read first, the batch id second: an
   * attempt of this batch that commits in between is seen by the second read, and once the
   * series has moved past the plan's base no attempt of it can commit any more.
   * - The batch id is there: an earlier attempt of this very batch committed and its answer was
   *   lost, possibly on the primary only (its wait for the standby cancelled): it is confirmed
   *   through the standby before it is answered.
   * - The series moved past the plan's base: a conflict, and final.
   * - A key is taken and the series did not move: the batch is fenced off (see `confirmBatch`),
   *   then it is a conflict (the re-plan finds the key's record).
   * - Otherwise the refusal says nothing of an earlier attempt that may still be on its way: the
   *   batch id is read back under the row lock, and the batch fenced off when absent.
   */
  private async afterRefusal(plan: CommitPlan, refusal: unknown): Promise<CommitResult> {
    let state: SeriesState | null;
    let landed: string | null;
    let maintenance: boolean;
    let refusedBecause = MAINTENANCE_MESSAGE;
    try {
      // Maintenance first: once a switch is seen, every attempt that passed the gate before it has
      // ended, and the reads below see any of them that landed.
      const now = await this.maintenanceState();
      maintenance = (plan.maintenance === undefined && now.maintenance) || (plan.maintenance === false && now.migratedTo !== null);
      if (maintenance && now.migratedTo !== null) refusedBecause = migratedMessage(now.migratedTo);
      state = await this.readState(plan.series);
      landed = await this.batchVersion(this.sql, plan.batchId);
    } catch (error) {
      return this.settle(plan, error);
    }
    if (landed !== null) return this.settle(plan, refusal);
    if (state && (state.version !== plan.baseVersion || state.lastHash !== plan.baseHash)) return { status: 'conflict', state };
    if (!(refusal instanceof Conflict)) return this.settle(plan, refusal);
    const confirmed = await this.confirmBatch(plan, refusal);
    if (confirmed !== null) return { status: 'committed', version: confirmed };
    // Fenced off by confirmBatch: a late attempt cannot land once maintenance ends either.
    if (maintenance) throw new MaintenanceError(refusedBecause);
    return this.read(async () => {
      const now = await this.readState(plan.series);
      if (!now) throw new Error(`series ${plan.series} missing`);
      return { status: 'conflict' as const, state: now };
    });
  }

  /**
   * Deletes idempotency records past the window, at most 1,000 per call and none that a commit
   * holds (SKIP LOCKED), so the sweep never stalls or deadlocks a commit. Scheduled by the server.
   */
  async sweepRequests(now = Date.now()): Promise<number> {
    return this.read(async () => {
      const [row] = await this.sql.unsafe<{ at: string | null }[]>(`SELECT MAX(committed_at) AS at FROM ${this.q}.requests`);
      const newest = row?.at == null ? null : Number(row.at);
      const gone = await this.write(
        `DELETE FROM ${this.q}.requests WHERE key IN (SELECT key FROM ${this.q}.requests WHERE committed_at < $1 ORDER BY committed_at LIMIT 1000 FOR UPDATE SKIP LOCKED)`,
        [requestCutoff(now, newest, this.requestWindowMs)],
      );
      return gone.count;
    });
  }

  async purgeArchived(series: string): Promise<number> {
    return this.read(() =>
      this.begin(async (tx) => {
        // Locks the row: the mark read is the one every later commit of the series sees.
        const [row] = await tx.unsafe<{ archive: string | null }[]>(`SELECT archive FROM ${this.q}.series WHERE name = $1 FOR UPDATE`, [series]);
        const mark = archiveMarkOf(row);
        if (!mark) return 0;
        const events = await tx.unsafe(
          `DELETE FROM ${this.q}.events WHERE series = $1 AND seq IN (SELECT seq FROM ${this.q}.events WHERE series = $1 AND seq <= $2 ORDER BY seq LIMIT $3)`,
          [series, mark.headSeq, PURGE_PAGE],
        );
        const numbers = await tx.unsafe(
          `DELETE FROM ${this.q}.numbers WHERE series = $1 AND number IN (SELECT number FROM ${this.q}.numbers WHERE series = $1 LIMIT $2)`,
          [series, PURGE_PAGE],
        );
        return events.count + numbers.count;
      }),
    );
  }

  async readEvents(series: string, afterSeq: number, limit: number): Promise<AuditEvent[]> {
    return this.read(async () =>
      (await this.sql.unsafe<EventRow[]>(`SELECT * FROM ${this.q}.events WHERE series = $1 AND seq > $2 ORDER BY seq LIMIT $3`, [series, afterSeq, limit])).map(toEvent),
    );
  }

  async queryEvents(q: AuditQuery): Promise<AuditEvent[]> {
    return this.read(async () => {
      const params: (string | number)[] = [q.series];
      const where = ['series = $1'];
      const add = (clause: (p: string) => string, value: string | number) => {
        params.push(value);
        where.push(clause(`$${params.length}`));
      };
      if (q.number !== undefined) add((p) => `first <= ${p} AND last >= ${p}`, q.number);
      if (q.siteId !== undefined) add((p) => `site_id = ${p}`, q.siteId);
      if (q.partitionId !== undefined) add((p) => `partition_id = ${p}`, q.partitionId);
      if (q.invoiceType !== undefined) add((p) => `invoice_type = ${p}`, q.invoiceType);
      if (q.type !== undefined) add((p) => `type = ${p}`, q.type);
      if (q.from !== undefined) add((p) => `ts >= ${p}`, q.from);
      if (q.to !== undefined) add((p) => `ts <= ${p}`, q.to);
      if (q.cursor !== undefined) add((p) => (q.order === 'desc' ? `seq < ${p}` : `seq > ${p}`), q.cursor);
      params.push(q.limit);
      const sql = `SELECT * FROM ${this.q}.events WHERE ${where.join(' AND ')} ORDER BY seq ${q.order === 'desc' ? 'DESC' : 'ASC'} LIMIT $${params.length}`;
      return (await this.sql.unsafe<EventRow[]>(sql, params)).map(toEvent);
    });
  }

  async listNumbers(q: NumberQuery): Promise<NumberRecord[]> {
    return this.read(async () => {
      if (q.statuses.length === 0) return [];
      const rows = await this.sql.unsafe<NumberRow[]>(
        `SELECT * FROM ${this.q}.numbers WHERE series = $1 AND status = ANY($2::text[]) AND number > $3 ORDER BY number LIMIT $4`,
        [q.series, [...q.statuses], q.afterNumber ?? -1, q.limit],
      );
      return rows.map(toRecord);
    });
  }

  async totals(series: string): Promise<TotalsRow[]> {
    return this.read(async () => {
      const rows = await this.sql.unsafe<{ site_id: string; partition_id: string; invoice_type: string; issued: number; refilled: number; released: number }[]>(
        `SELECT site_id, partition_id, invoice_type, issued, refilled, released FROM ${this.q}.totals WHERE series = $1 ORDER BY 1, 2, 3`,
        [series],
      );
      return rows.map((r) => ({ siteId: r.site_id, partitionId: r.partition_id, invoiceType: r.invoice_type as InvoiceType, issued: r.issued, refilled: r.refilled, released: r.released }));
    });
  }

  async listSeries(): Promise<string[]> {
    return this.read(async () => (await this.sql.unsafe<{ name: string }[]>(`SELECT name FROM ${this.q}.series ORDER BY name`)).map((r) => r.name));
  }

  async seriesVersions(): Promise<Map<string, string>> {
    return this.read(async () => {
      const rows = await this.sql.unsafe<{ name: string; version: string | number }[]>(`SELECT name, version FROM ${this.q}.series ORDER BY name`);
      return new Map(rows.map((r) => [r.name, String(r.version)]));
    });
  }

  async loadSettings(): Promise<Partial<Settings>> {
    return this.read(async () => decodeSettings(await this.sql.unsafe<{ key: string; value: string }[]>(`SELECT key, value FROM ${this.q}.settings`)));
  }

  async loadIdentity(): Promise<StoreIdentity | null> {
    return this.read(async () => {
      const rows = await this.sql.unsafe<{ key: string; value: string }[]>(`SELECT key, value FROM ${this.q}.meta WHERE key IN ('identity', 'restoring')`);
      if (rows.some((r) => r.key === 'restoring')) throw new StoreUnavailableError(`PostgreSQL: ${RESTORE_UNFINISHED}`);
      const row = rows.find((r) => r.key === 'identity');
      return row ? (JSON.parse(row.value) as StoreIdentity) : null;
    });
  }

  async saveIdentity(next: StoreIdentity, expected: StoreIdentity | null): Promise<StoreIdentity> {
    return this.read(async () => {
      if (expected === null) {
        await this.write(`INSERT INTO ${this.q}.meta (key, value) VALUES ('identity', $1) ON CONFLICT (key) DO NOTHING`, [canonical(next)]);
      } else {
        await this.write(`UPDATE ${this.q}.meta SET value = $1 WHERE key = 'identity' AND value = $2`, [canonical(next), canonical(expected)]);
      }
      const stored = await this.loadIdentity();
      if (!stored) throw new StoreUnavailableError('PostgreSQL: the store identity was not written');
      return stored;
    });
  }

  async health(): Promise<StoreHealth> {
    try {
      await this.open();
      const replication = await readReplication(this.sql);
      return { kind: this.kind, healthy: true, detail: { server: replication.primary, sizeBytes: replication.sizeBytes }, replication };
    } catch (error) {
      return { kind: this.kind, healthy: false, detail: { error: describeFailure(error) } };
    }
  }

  async openSnapshot(): Promise<StoreSnapshot> {
    return this.read(async () => PostgresSnapshot.open(await this.sql.reserve(), this.q));
  }

  openLoader(): StoreLoader {
    return new PostgresLoader(this.sql, this.q, (work) => this.begin(work));
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }

  /**
   * One batch in a transaction on a connection of its own: BEGIN and every statement go out
   * together under one Sync (`batch`: if BEGIN fails, nothing after it runs, so no statement can
   * commit on its own), COMMIT once each answered as it should (else ROLLBACK): two round trips.
   * COMMIT is never sent with the statements: one the driver refused before sending it would
   * then be missing from a committed batch.
   */
  private async send(plan: CommitPlan): Promise<string> {
    const db = await this.sql.reserve();
    let open = true;
    try {
      const version = await this.apply(db, plan);
      open = false;
      const done = await db.unsafe('COMMIT');
      if (done.command !== 'COMMIT') throw new Error(`COMMIT answered ${done.command}`);
      return version;
    } catch (error) {
      if (open) await db.unsafe('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      db.release();
    }
  }

  /**
   * BEGIN and the batch's writes, sent as one `batch` (one round trip): the compare-and-swap
   * first, then the writes. Throws {@link Conflict} when the compare matched no row or a key is
   * another commit's, and the failing statement's error when one failed (see `afterRefusal`).
   * A re-sent batch that already landed fails the compare (its own commit moved the version) and
   * is recognised by its batch id in `afterRefusal`. (Two batches of a series in flight at once,
   * the next planned on the version the first will leave, measured slower: docs/PERFORMANCE.md.)
   */
  private async apply(tx: ReservedSql<{ bigint: number }>, plan: CommitPlan): Promise<string> {
    const q = this.q;
    const base = Number(plan.baseVersion);
    const version = base + 1;
    const n = plan.next;
    const c = n.counters;
    // The compare-and-swap: a concurrent commit of the series holds this row until it ends, and
    // the version and hash are compared again on the row it left.
    // Maintenance: an ordinary batch holds the gate shared and then finds maintenance off in the
    // compare-and-swap (a statement after the gate: it reads the database as of after it). A switch
    // takes the gate exclusively, so it waits for every batch that passed the gate to end, and
    // every batch after it sees the switch.
    const gate = tx.unsafe(`SELECT ${plan.maintenance === undefined ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock'}(hashtext($1))`, [this.gateName], PREPARED);
    const ordinary =
      plan.maintenance === undefined
        ? ` AND NOT EXISTS (SELECT 1 FROM ${q}.settings WHERE key = 'maintenance' AND value = 'true')`
        : plan.maintenance === false
          ? ` AND NOT EXISTS (SELECT 1 FROM ${q}.settings WHERE key = 'migratedTo')`
          : '';
    const cas = tx.unsafe(
      `UPDATE ${q}.series SET hwm = $1, version = $2, event_seq = $3, last_hash = $4, issued = $5, refilled = $6, released = $7, voided = $8,
         closed_at = $9, last_ts = $10 WHERE name = $11 AND version = $12 AND last_hash = $13${ordinary}`,
      [n.hwm, version, n.eventSeq, n.lastHash, c.issued, c.refilled, c.released, c.voided, n.closedAt, n.lastEventAt, plan.series, base, plan.baseHash],
      PREPARED,
    );
    const writes: PendingQuery<Row[]>[] = [];
    if (n.archived) writes.push(tx.unsafe(`UPDATE ${q}.series SET archive = $1 WHERE name = $2`, [JSON.stringify(n.archived), plan.series], PREPARED));
    const ev = plan.events;
    if (ev.length > 0) {
      writes.push(
        tx.unsafe(
          `INSERT INTO ${q}.events (series, seq, ts, type, first, last, site_id, partition_id, invoice_type, reason, request_id, batch_id, node, allocation, actor, prev_hash, hash)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[],
             $11::text[], $12::text[], $13::text[], $14::bigint[], $15::text[], $16::text[], $17::text[])`,
          [
            ev.map((e) => e.series), ev.map((e) => e.seq), ev.map((e) => e.ts), ev.map((e) => e.type), ev.map((e) => e.first), ev.map((e) => e.last),
            ev.map((e) => e.siteId), ev.map((e) => e.partitionId), ev.map((e) => e.invoiceType), ev.map((e) => e.reason), ev.map((e) => e.requestId),
            ev.map((e) => e.batchId), ev.map((e) => e.node), ev.map((e) => e.allocation), ev.map((e) => e.actor), ev.map((e) => e.prevHash), ev.map((e) => e.hash),
          ],
          PREPARED,
        ),
      );
    }
    const ch = plan.numberChanges;
    if (ch.length > 0) {
      writes.push(
        tx.unsafe(
          `INSERT INTO ${q}.numbers (series, number, status, site_id, partition_id, invoice_type, reason, changed_at, grant_seq, previous)
           SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::text[])
           ON CONFLICT (series, number) DO UPDATE SET status = excluded.status, site_id = excluded.site_id, partition_id = excluded.partition_id,
             invoice_type = excluded.invoice_type, reason = excluded.reason, changed_at = excluded.changed_at, grant_seq = excluded.grant_seq, previous = excluded.previous`,
          [
            plan.series, ch.map((x) => x.number), ch.map((x) => x.status), ch.map((x) => x.siteId), ch.map((x) => x.partitionId), ch.map((x) => x.invoiceType),
            ch.map((x) => x.reason), ch.map(() => plan.committedAt), ch.map((x) => x.grant), ch.map((x) => (x.previous ? JSON.stringify(x.previous) : null)),
          ],
          PREPARED,
        ),
      );
    }
    for (const t of plan.totals) {
      writes.push(
        tx.unsafe(
          `INSERT INTO ${q}.totals (series, site_id, partition_id, invoice_type, issued, refilled, released) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (series, site_id, partition_id, invoice_type) DO UPDATE SET issued = totals.issued + excluded.issued,
             refilled = totals.refilled + excluded.refilled, released = totals.released + excluded.released`,
          [plan.series, t.siteId, t.partitionId, t.invoiceType, t.issued, t.refilled, t.released],
          PREPARED,
        ),
      );
    }
    let keys: PendingQuery<Row[]> | null = null;
    const reqs = plan.requests;
    if (reqs.length > 0) {
      // Sorted: two batches taking overlapping keys lock them in one order (no deadlock). A key
      // whose record is still inside the window is not replaced: the plan loses, the re-plan finds it.
      const sorted = [...reqs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      keys = tx.unsafe(
        `INSERT INTO ${q}.requests (key, series, record, committed_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
         ON CONFLICT (key) DO UPDATE SET series = excluded.series, record = excluded.record, committed_at = excluded.committed_at
         WHERE requests.committed_at < $5 RETURNING key`,
        [sorted.map((r) => r.key), sorted.map(() => plan.series), sorted.map((r) => encodeRequest(r)), sorted.map((r) => r.committedAt), Date.now() - this.requestWindowMs + KEY_GUARD_MARGIN_MS],
        PREPARED,
      );
      writes.push(keys);
    }
    const settings = {
      ...plan.settings,
      ...(plan.maintenance === undefined ? {} : { maintenance: plan.maintenance }),
      ...(plan.migratedTo === undefined ? {} : { migratedTo: plan.migratedTo }),
    };
    for (const [key, value] of Object.entries(settings)) {
      writes.push(tx.unsafe(`INSERT INTO ${q}.settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [key, JSON.stringify(value)], PREPARED));
    }
    writes.push(tx.unsafe(`INSERT INTO ${q}.batches (batch_id, series, version, committed_at) VALUES ($1, $2, $3, $4)`, [plan.batchId, plan.series, version, plan.committedAt], PREPARED));
    const begin = tx.unsafe('BEGIN');
    const statements = [begin, ...localSettings(tx, this.pooler, this.statementTimeoutMs), gate, cas, ...writes];
    // One Sync for all: a failing statement skips the rest, and the batch rejects with its error
    // (or with the driver's, when it could not send them: the statements may then never settle).
    const results = tx.batch(statements);
    for (const q of statements) q.catch(() => undefined);
    const swapped = (await results)[statements.indexOf(cas)];
    if (swapped?.count !== 1) throw new Conflict();
    if (keys && (await keys).count !== reqs.length) throw new Conflict();
    return String(version);
  }

  /** The commit's answer was lost, or it failed: the batch as {@link confirmBatch} finds it. */
  private async settle(plan: CommitPlan, cause: unknown): Promise<CommitResult> {
    const version = await this.confirmBatch(plan, cause);
    if (version !== null) return { status: 'committed', version };
    throw new StoreUnavailableError(`PostgreSQL: the commit failed or its answer was lost (${describeFailure(cause)}); its batch did not land: nothing was committed`, { cause });
  }

  /**
   * Reads the batch id back under the series row lock. A transaction of this batch still
   * committing (waiting for its WAL flush or a synchronous standby) holds that lock, so once the
   * lock is ours the answer is final; on a new primary it is what survived. Absent, the batch is
   * fenced off: the series version moves in the same transaction, and every attempt of it that
   * may still reach the server (queued in a connection, delayed by the network) compares the
   * version it was planned on. Throws {@link OutcomeUnknownError} when it cannot tell in time.
   */
  private async confirmBatch(plan: CommitPlan, cause: unknown): Promise<string | null> {
    const deadline = Date.now() + (this.o.resolveTimeoutMs ?? 10_000);
    for (let attempt = 0; ; attempt++) {
      const cancelsBefore = this.syncWaitsCancelled;
      try {
        const version = await this.withinDeadline(
          this.begin(async (tx) => {
            // An update, not only a lock: this transaction's commit waits for the synchronous
            // standbys, and the WAL is one sequence, so once it is confirmed so is the batch's.
            await tx.unsafe(`UPDATE ${this.q}.series SET version = version WHERE name = $1`, [plan.series]);
            const landed = await this.batchVersion(tx, plan.batchId);
            if (landed === null) await tx.unsafe(`UPDATE ${this.q}.series SET version = version + 1 WHERE name = $1`, [plan.series]);
            return landed;
          }),
        );
        if (this.syncWaitsCancelled !== cancelsBefore) throw new Error('a wait for the synchronous standby was cancelled');
        return version;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new OutcomeUnknownError(`PostgreSQL: the outcome of batch ${plan.batchId} is not known yet (${describeFailure(cause)}; reading it back: ${describeFailure(error)})`, { cause });
        }
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
      }
    }
  }

  /**
   * A commit's answer, or an unknown outcome once the deadline passes. The commit itself is left
   * alone (cancelling it could not undo it): it lands or not, and the batch id tells which.
   */
  private withinDeadline<T>(work: Promise<T>): Promise<T> {
    const ms = this.o.resolveTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new OutcomeUnknownError(`PostgreSQL did not answer a commit within ${ms} ms (a synchronous standby missing?)`)), ms);
    });
    work.catch(() => undefined);
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  }

  private async batchVersion(db: Sql<{ bigint: number }> | TransactionSql<{ bigint: number }>, batchId: string): Promise<string | null> {
    const [row] = await db.unsafe<{ version: number }[]>(`SELECT version FROM ${this.q}.batches WHERE batch_id = $1`, [batchId]);
    return row ? String(row.version) : null;
  }

  /** The series row and its open gaps as of one snapshot; null when the series does not exist. */
  private async readState(series: string): Promise<SeriesState | null> {
    return this.begin(async (tx) => {
      const [row] = await tx.unsafe<SeriesRow[]>(`SELECT * FROM ${this.q}.series WHERE name = $1`, [series]);
      if (!row) return null;
      const gaps = await tx.unsafe<NumberRow[]>(`SELECT * FROM ${this.q}.numbers WHERE series = $1 AND status = 'open' ORDER BY number`, [series]);
      return toState(row, gaps);
    }, 'isolation level repeatable read read only');
  }

  /** The store's maintenance switch and where it migrated to, as stored now. */
  private async maintenanceState(): Promise<{ maintenance: boolean; migratedTo: string | null }> {
    const rows = await this.sql.unsafe<{ key: string; value: string }[]>(`SELECT key, value FROM ${this.q}.settings WHERE key IN ('maintenance', 'migratedTo')`);
    const s = decodeSettings(rows);
    return { maintenance: s.maintenance ?? false, migratedTo: s.migratedTo ?? null };
  }

  /** A transaction with seqd's settings, which behind a pooler it sets itself (`mode`: after BEGIN). */
  private begin<R>(work: (tx: TransactionSql<{ bigint: number }>) => Promise<R>, mode = ''): Promise<R> {
    return this.sql.begin(mode, (tx) => withLocalSettings(tx, this.pooler, this.statementTimeoutMs, work)) as Promise<R>;
  }

  /**
   * One write statement on its own: with seqd's connection settings, which behind a pooler only a
   * transaction of seqd's carries (any other runs with whatever the server connection has).
   */
  private write(text: string, params: (string | number | null)[]): Promise<{ count: number }> {
    if (this.pooler === 'none') return this.sql.unsafe(text, params);
    return this.begin((tx) => tx.unsafe(text, params));
  }

  /** Any failure of a read becomes a retryable 503: reads change nothing. */
  private async read<T>(work: () => Promise<T>): Promise<T> {
    try {
      await this.open();
      return await work();
    } catch (error) {
      throw wrap(error, 'PostgreSQL store failed');
    }
  }
}

/**
 * The WARNING a backend sends when its wait for the synchronous standbys is cancelled (the
 * transaction is committed locally, maybe not replicated). Recognised by the server routine that
 * raises it, which no `lc_messages` translates, and by its English text.
 */
export function isSyncWaitCancelled(notice: { readonly routine?: unknown; readonly message?: unknown }): boolean {
  return notice.routine === 'SyncRepWaitForLSN' || /synchronous replication/i.test(String(notice.message));
}

/**
 * A store failure as operators read it, with the setting to change where a pooler between seqd
 * and the server explains it: 26000 and 42P05 on a commit mean the server connection did not
 * keep seqd's prepared statements between transactions (a pooler in transaction mode); a startup
 * parameter refused is PgBouncer refusing the settings seqd sends when it connects directly.
 */
export function describeFailure(error: unknown): string {
  if (error instanceof postgres.PostgresError) return `${error.code} ${error.message}${poolerHint(error)}`;
  return error instanceof Error ? error.message : String(error);
}

function poolerHint(error: InstanceType<typeof postgres.PostgresError>): string {
  if (error.code === '26000' || error.code === '42P05') {
    return '; prepared statements were lost between transactions (a pooler in transaction mode?): set sequence.postgres.pooler: transaction, and prepared-statements: false or unset';
  }
  if (/unsupported startup parameter/i.test(error.message)) {
    return '; a pooler (PgBouncer?) refused the settings seqd sends when it connects: set sequence.postgres.pooler to its pool mode (session or transaction)';
  }
  return '';
}

function wrap(error: unknown, what: string): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  return new StoreUnavailableError(`${what}: ${describeFailure(error)}`, { cause: error });
}

/** int8 values as numbers: seqd stores none above 2^53, and one that is would be misread silently. */
function parseSafeInteger(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new StoreUnavailableError(`PostgreSQL returned ${text}, beyond the integers seqd handles`);
  return n;
}

/** How many hosts a postgres:// URL lists (host1:port,host2:port). */
function hostsOf(url: string): number {
  const authority = /^postgres(?:ql)?:\/\/(?:[^@/]*@)?([^/?]*)/.exec(url)?.[1] ?? '';
  return authority.split(',').filter(Boolean).length;
}

/**
 * Seconds before the driver tries to connect again after `retries` failed attempts: its own
 * growth (3^n / 100 s, jittered) capped at 250 ms, so a promoted standby is found within a
 * quarter of a second of taking writes, while a server that stays down is not hammered faster
 * than four attempts a second per pool slot.
 */
function reconnectBackoffSeconds(retries: number): number {
  return Math.min(0.25, (0.5 + Math.random() / 2) * (3 ** retries / 100));
}
