import { isBrokenCircuitError } from 'cockatiel';
import { setTimeout as sleep } from 'node:timers/promises';
import { GENESIS_HASH } from '../../domain/audit-chain.js';
import { BatchTooLargeError, MaintenanceError, OutcomeUnknownError, StoreUnavailableError, ValidationError } from '../../domain/errors/index.js';
import type { CommitPlan } from '../../domain/planner.js';
import type { AuditEvent, InvoiceType, NumberRecord, OpenGap, SeriesState, Settings } from '../../domain/types.js';
import { decodeRequest, encodeRequest } from '../request-record-codec.js';
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
import {
  chunkOf,
  decodeAudit,
  decodeGaps,
  decodeNums,
  decodeState,
  encodeAudit,
  encodeGaps,
  encodeNums,
  encodeState,
  keys,
  prefixEnd,
  type NumsChunk,
  type StoredState,
} from './etcd-codec.js';
import { ETCD_FORMAT, upgradeEtcdFormat } from './etcd-format.js';
import { nextSeriesVersion, parseSeriesVersion, storedVersion } from './etcd-version.js';
import { EtcdTxnCombiner } from './etcd-txn-combiner.js';
import { EtcdLoader, RESTORING_KEY } from './etcd-loader.js';
import { EtcdSnapshot } from './etcd-snapshot.js';
import { MAINTENANCE_MESSAGE, migratedMessage, RESTORE_UNFINISHED, type StoreLoader, type StoreSnapshot } from '../store-transfer.js';
import { decodeSettingsValue, gapRecord, readBatches, readNumberPage } from './etcd-reads.js';
import { requestCutoff } from '../request-retention.js';
import {
  connectEtcd,
  isTransientEtcdError,
  type EtcdConnectionOptions,
  type CallRetry,
  type Compare,
  type EtcdKvClient,
  type Kv,
  type RangeReq,
  type RequestOp,
  type TxnReq,
  type TxnRes,
} from './etcd-client.js';

export interface EtcdStoreOptions extends EtcdConnectionOptions {
  /** How long one commit or read keeps retrying before answering 503 (fail closed). */
  readonly retryBudgetMs?: number;
  /** How long idempotency records are kept (default 24 h). */
  readonly requestWindowMs?: number | undefined;
  /** Batches of one series committing at once (default 1; 2 pipelines, see {@link EtcdStore.pipelining}). */
  readonly pipelineDepth?: number | undefined;
  /**
   * Batches of several series ready together go as one transaction (default true; off with a
   * pipeline depth above 1, whose batches must not wait for each other): see EtcdTxnCombiner.
   */
  readonly combineSeries?: boolean | undefined;
}

/** Batches of expired idempotency keys one sweep deletes at most (each a transaction). */
const SWEEP_MAX_BATCHES = 200;
/** Keys of each kind one call of `purgeArchived` deletes (one delete-range per transaction). */
const PURGE_PAGE = 1000;


/** etcd's defaults: 128 operations and 1.5 MiB per request; keep a margin. */
const MAX_TXN_OPS = 120;
const MAX_TXN_BYTES = 1_400_000;
const MAX_SCAN_EVENTS = 50_000;
/** What became of a batch sent here: `unknown` also when it is not one of the latest. */
type BatchFate = 'landed' | 'refused' | 'unknown';

/** A plan's transaction, built once: sent again, it is sent as it was. */
interface BuiltCommit {
  readonly txn: TxnReq;
  /** The state it writes, totals included. */
  readonly stored: StoredState;
  /** The state key's version once it has landed. */
  readonly keyVersion: number;
  /** Tries that got no answer (an error or a timeout): they may still reach etcd. */
  unanswered: number;
}

/** States kept per series for totals: the stored one and those of batches still committing. */
const CACHED_VERSIONS = 4;
/** Batches whose outcome is kept for a batch planned on them (two per busy series at most). */
const TRACKED_OUTCOMES = 8192;


/**
 * The HA store on an etcd v3 cluster.
 *
 * Safety: every batch is ONE transaction that compares the series state key's mod revision with
 * the version the batch was planned on and requires the batch's audit key to be absent. Nothing
 * else (no lock, lease or election) keeps numbers unique. When a commit fails in any way (timeout,
 * leader change, lost connection) its outcome is unknown; the store re-sends the very same
 * transaction, whose failure branch reads the audit key back: if it holds this batch's id the
 * batch is committed, otherwise another writer won and the batch is re-planned. Only a definite
 * answer leaves the store; after the retry budget it throws {@link StoreUnavailableError} (no
 * quorum, no number).
 */
export class EtcdStore implements SequenceStore {
  readonly kind = 'etcd' as const;
  readonly limits = { maxOpsPerBatch: 500 };
  /**
   * The next batch of a series is planned and sent while one commits: its transaction compares the
   * head key with the predecessor's batch id and the state key's version with the predicted one,
   * so it lands only directly on its predecessor (see `etcd-version.ts`).
   */
  readonly pipelining: StorePipelining | undefined;
  private readonly client: EtcdKvClient;
  private readonly combiner: EtcdTxnCombiner | null;
  private readonly budgetMs: number;
  /**
   * States (with totals) of each series at the versions last seen or predicted, to apply totals
   * deltas without a read; a few per series, the newest last.
   */
  private readonly cache = new Map<string, Map<string, StoredState>>();
  /**
   * The transaction built for a plan: a plan sent again (an unknown outcome being settled) is sent
   * byte for byte as the first time, whatever the cache holds by then.
   */
  private readonly built = new WeakMap<CommitPlan, BuiltCommit>();
  /** What became of the latest batches committed here, by batch id (pending while they commit). */
  private readonly outcomes = new Map<string, Promise<BatchFate>>();

  constructor(private readonly o: EtcdStoreOptions) {
    this.client = connectEtcd(o);
    this.budgetMs = o.retryBudgetMs ?? 2500;
    const depth = o.pipelineDepth ?? 1;
    this.pipelining = depth > 1 ? { maxInFlight: depth, nextVersion: (commit) => nextSeriesVersion(commit.baseVersion, commit.batchId) } : undefined;
    const client = this.client;
    this.combiner =
      depth === 1 && o.combineSeries !== false
        ? new EtcdTxnCombiner((req, retry) => client.txn(req, retry), { maxOps: MAX_TXN_OPS, maxBytes: MAX_TXN_BYTES })
        : null;
  }

  async loadSeries(series: string, start: number): Promise<SeriesState> {
    const key = keys.state(series);
    let snap = await this.readSeries(series);
    if (!snap) {
      const initial: StoredState = {
        start,
        hwm: start - 1,
        seq: 0,
        hash: GENESIS_HASH,
        counters: { issued: 0, refilled: 0, released: 0, voided: 0 },
        totals: [],
        closedAt: null,
        lastTs: 0,
      };
      await this.retrying('create series', () =>
        this.client.txn({
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
          success: [{ request_put: { key, value: encodeState(initial) } }],
          failure: [],
        }),
      );
      snap = await this.readSeries(series);
      if (!snap) throw new StoreUnavailableError(`series ${series} missing right after creation`);
    }
    this.remember(series, snap.version, snap.state);
    return toSeriesState(series, snap.state, snap.version, snap.gaps);
  }

  async moveEmptySeriesStart(series: string, start: number, version: string): Promise<SeriesState> {
    const key = keys.state(series);
    const snap = await this.readSeries(series);
    if (!snap) throw new StoreUnavailableError(`series ${series} missing`);
    const s = snap.state;
    const read = parseSeriesVersion(snap.version);
    if (snap.version === version && read?.kind === 'stored' && s.seq === 0 && s.closedAt === null) {
      // Compared on the revision read: a commit in between wins, and the state after it is answered.
      await this.retrying('move the start of an empty series', () =>
        this.client.txn({
          compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: read.modRevision }],
          success: [{ request_put: { key, value: encodeState({ ...s, start, hwm: start - 1 }) } }],
          failure: [],
        }),
      );
    }
    return this.loadSeries(series, start);
  }

  async lookupNumbers(series: string, numbers: readonly number[]): Promise<Map<number, NumberRecord>> {
    const found = new Map<number, NumberRecord>();
    if (numbers.length === 0) return found;
    const chunks = [...new Set(numbers.map(chunkOf))];
    const gaps = new Map<number, OpenGap>();
    const nums: NumsChunk = new Map();
    // Two reads per chunk; numbers spread over many chunks take several transactions.
    const perTxn = Math.floor(MAX_TXN_OPS / 2);
    for (let i = 0; i < chunks.length; i += perTxn) {
      const page = chunks.slice(i, i + perTxn);
      const res = await this.readTxn('look up numbers', [
        ...page.flatMap((c): RequestOp[] => [
          { request_range: { key: keys.gaps(series, c) } },
          { request_range: { key: keys.nums(series, c) } },
        ]),
      ]);
      page.forEach((_, j) => {
        const g = res.responses[2 * j]?.response_range?.kvs[0];
        const n = res.responses[2 * j + 1]?.response_range?.kvs[0];
        if (g) for (const gap of decodeGaps(g.value)) gaps.set(gap.number, gap);
        if (n) for (const [k, v] of decodeNums(n.value)) nums.set(k, v);
      });
    }
    const held: number[] = [];
    for (const n of numbers) {
      const gap = gaps.get(n);
      const rec = nums.get(n);
      if (gap) {
        found.set(n, gapRecord(gap));
      } else if (rec) {
        found.set(n, rec);
      } else {
        held.push(n);
      }
    }
    for (const [n, rec] of await this.counterHolders(series, held)) found.set(n, rec);
    return found;
  }

  /**
   * Refuses data written by a newer seqd and brings older data to this version's layout (see
   * `upgradeEtcdFormat`). Called once at start, before any request.
   */
  async upgradeFormat(onProgress?: (moved: number) => void): Promise<number> {
    return this.retrying('upgrade the data format', () => upgradeEtcdFormat(this.client, onProgress));
  }

  async seriesVersion(series: string): Promise<string | null> {
    const kv = await this.getOne(keys.state(series));
    return kv ? storedVersion(kv.mod_revision, kv.version) : null;
  }

  async lookupRequests(series: string, wanted: readonly string[], notBefore: number): Promise<RequestLookup> {
    const found = new RequestLookup();
    // One read-only transaction per page of keys: a linearizable read, no raft write.
    const perTxn = Math.floor(MAX_TXN_OPS / 2);
    for (let i = 0; i < wanted.length; i += perTxn) {
      const page = wanted.slice(i, i + perTxn);
      const ops = page.flatMap((k): RequestOp[] => [{ request_range: { key: keys.request(k) } }, { request_range: { key: keys.legacyRequest(series, k) } }]);
      const res = await this.retrying('read idempotency keys', () => this.client.txn({ compare: [], success: ops, failure: [] }));
      page.forEach((k, j) => {
        const kv = res.responses[2 * j]?.response_range?.kvs[0];
        // A plan recording this key carries what was seen now; its commit compares it.
        found.versions.set(k, kv?.mod_revision ?? '0');
        const legacy = res.responses[2 * j + 1]?.response_range?.kvs[0];
        for (const found1 of [kv, legacy]) {
          if (!found1 || found.has(k)) continue;
          const record = decodeRequest(k, found1.value.toString(), series);
          if (record.committedAt >= notBefore) found.set(k, record);
        }
      });
    }
    return found;
  }

  /**
   * Deletes idempotency records older than the window (plus a margin), oldest batches first, at
   * most {@link SWEEP_MAX_BATCHES} batches per call. No lease is involved (etcd resets leases on
   * leader changes, and can revoke them early): each batch's index entry lists its keys, and a key
   * is deleted only if it was not written again since that batch (its mod revision is the batch's).
   * Answers how many records went.
   */
  async sweepRequests(now = Date.now()): Promise<number> {
    const window = this.o.requestWindowMs ?? 24 * 3600_000;
    // The newest record is not known without reading the whole index: the sweeping instance's clock.
    const until = keys.keyAge(Math.max(0, requestCutoff(now, null, window)), '');
    const page = await this.range({ key: keys.keyAgePrefix, range_end: until, limit: SWEEP_MAX_BATCHES });
    let deleted = 0;
    for (const entry of page.kvs) {
      const listed = (JSON.parse(entry.value.toString()) as string[]).map((k) => keys.request(k));
      const unchanged = (key: Buffer) => ({ key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: entry.mod_revision });
      const del = (key: Buffer): RequestOp => ({ request_delete_range: { key } });
      const all = await this.retrying('sweep idempotency records', () =>
        this.client.txn({ compare: listed.map(unchanged), success: [...listed.map(del), del(entry.key)], failure: [] }),
      );
      if (all.succeeded) {
        deleted += listed.length;
        continue;
      }
      // Some key was written again by a later request: leave that one, delete the others.
      for (const key of listed) {
        const one = await this.retrying('sweep an idempotency record', () => this.client.txn({ compare: [unchanged(key)], success: [del(key)], failure: [] }));
        if (one.succeeded) deleted++;
      }
      await this.retrying('sweep an idempotency index entry', () => this.client.txn({ compare: [], success: [del(entry.key)], failure: [] }));
    }
    return deleted;
  }

  async purgeArchived(series: string): Promise<number> {
    const stateKv = await this.getOne(keys.state(series));
    const mark = stateKv ? decodeState(stateKv.value).archived : undefined;
    if (!stateKv || !mark) return 0;
    // The archived events (batch records keyed by their last seq: the archive event's batch holds
    // it alone), the counter index and the number chunks; a page of keys per transaction, each
    // compared with the state that carries the mark.
    const ranges: [Buffer, Buffer][] = [
      [keys.audit(series, 0), keys.audit(series, mark.headSeq + 1)],
      [keys.issuePrefix(series), prefixEnd(keys.issuePrefix(series))],
      [keys.numsPrefix(series), prefixEnd(keys.numsPrefix(series))],
      [keys.gapsPrefix(series), prefixEnd(keys.gapsPrefix(series))],
    ];
    let deleted = 0;
    for (const [key, end] of ranges) {
      const page = await this.range({ key, range_end: end, limit: PURGE_PAGE, keys_only: true });
      const last = page.kvs[page.kvs.length - 1];
      if (!last) continue;
      const upTo = Buffer.concat([last.key, Buffer.from([0])]);
      const done = await this.retrying('remove an archived series', () =>
        this.client.txn({
          compare: [{ key: stateKv.key, target: 'Mod', result: 'Equal', mod_revision: stateKv.mod_revision }],
          success: [{ request_delete_range: { key, range_end: upTo } }],
          failure: [],
        }),
      );
      if (done.succeeded) deleted += page.kvs.length;
    }
    return deleted;
  }

  async commit(plan: CommitPlan): Promise<CommitResult> {
    const outcome = this.commitOnce(plan, true);
    this.outcomes.delete(plan.batchId);
    this.outcomes.set(
      plan.batchId,
      outcome.then(
        (r): BatchFate => (r.status === 'committed' ? 'landed' : 'refused'),
        // Any other error is a refusal inside the commit (maintenance) or one before it was sent.
        (error: unknown): BatchFate => (error instanceof OutcomeUnknownError ? 'unknown' : 'refused'),
      ),
    );
    for (const old of this.outcomes.keys()) {
      if (this.outcomes.size <= TRACKED_OUTCOMES) break;
      this.outcomes.delete(old);
    }
    return outcome;
  }

  /** What became of the batch a plan was planned on (unknown when it is not one committed here lately). */
  private async predecessorFate(plan: CommitPlan): Promise<BatchFate> {
    const base = parseSeriesVersion(plan.baseVersion);
    const predecessor = base?.kind === 'predicted' ? this.outcomes.get(base.afterBatch) : undefined;
    return predecessor ? predecessor : 'unknown';
  }

  private async commitOnce(plan: CommitPlan, mayWait: boolean): Promise<CommitResult> {
    const series = plan.series;
    const firstEvent = plan.events[0];
    const lastEvent = plan.events[plan.events.length - 1];
    if (!firstEvent || !lastEvent) throw new Error('a commit plan without events');
    if (firstEvent.type === 'archive') await this.refuseOlderInstances();
    let built = this.built.get(plan);
    if (!built) {
      const made = await this.buildCommit(plan);
      if (!made) {
        // Its base is a batch that has not landed (or not yet): once that one has, build it then;
        // otherwise it was never sent, so it never lands.
        if (mayWait && (await this.predecessorFate(plan)) === 'landed') return this.commitOnce(plan, false);
        return this.conflict(series, plan.next.start);
      }
      built = made;
      this.built.set(plan, built);
    }
    const { txn, stored, keyVersion } = built;
    const sent = built;
    let res: TxnRes;
    try {
      res = await this.retrying('commit', async (retry) => {
        try {
          return await (this.combiner ? this.combiner.txn(txn, retry, series, sent.unanswered > 0) : this.client.txn(txn, retry));
        } catch (error) {
          // This try may still reach etcd later, after the answer of another one.
          sent.unanswered++;
          throw error;
        }
      });
    } catch (error) {
      // Sent at least once and never answered for sure: it may still land (a leader that
      // appended it wins the next election). Never a plain failure: see OutcomeUnknownError.
      throw new OutcomeUnknownError(`etcd: could not learn whether batch ${plan.batchId} committed: ${(error as Error).message}`, { cause: error });
    }
    if (res.succeeded) {
      const version = storedVersion(res.header.revision, keyVersion);
      this.remember(series, version, stored);
      return { status: 'committed', version };
    }
    // Either an earlier attempt of this very transaction committed, or another writer won.
    const audit = res.responses[0]?.response_range?.kvs[0];
    if (audit && decodeAudit(audit.value).batchId === plan.batchId) {
      const state = res.responses[1]?.response_range?.kvs[0];
      // The state's own version when this batch wrote it last; else one no compare matches.
      const version = state?.mod_revision === audit.mod_revision ? storedVersion(state.mod_revision, state.version) : storedVersion(audit.mod_revision, 0);
      if (state?.mod_revision === audit.mod_revision) this.remember(series, version, stored);
      return { status: 'committed', version };
    }
    const maintenance = plan.maintenance === undefined && res.responses[2]?.response_range?.kvs[0];
    const migrated = plan.maintenance === false ? res.responses[3]?.response_range?.kvs[0] : undefined;
    // Refused by the switch, not by a moved state: a try that got no answer may still land once
    // maintenance is off again, so the refusal is not final then.
    if ((maintenance || migrated) && sent.unanswered > 0) {
      throw new OutcomeUnknownError(`etcd: batch ${plan.batchId} was refused for maintenance, but an earlier try of it was never answered`);
    }
    if (maintenance) throw new MaintenanceError(MAINTENANCE_MESSAGE);
    if (migrated) throw new MaintenanceError(migratedMessage(migrated.value.toString()));
    const base = parseSeriesVersion(plan.baseVersion);
    const stateVersion = Number(res.responses[1]?.response_range?.kvs[0]?.version ?? 0);
    if (base?.kind === 'predicted' && stateVersion < base.keyVersion) {
      // Refused because its predecessor has not landed, or not yet: the two may have raced on the
      // way to etcd. Once the predecessor has landed, this is sent once more (the same transaction).
      const fate = await this.predecessorFate(plan);
      if (fate === 'landed' && mayWait) return this.commitOnce(plan, false);
      // A try of this transaction that was never answered may still reach etcd after a late
      // predecessor, and land: not a conflict, then, unless the predecessor can never land.
      if (fate !== 'refused' && sent.unanswered > 0) {
        throw new OutcomeUnknownError(`etcd: batch ${plan.batchId} was planned on batch ${base.afterBatch}, whose outcome is not known yet`);
      }
    }
    return this.conflict(series, plan.next.start);
  }

  /**
   * The transaction of a plan, with its totals added to the state at the plan's base. Null when the
   * base is a predicted version whose batch is not the state's last write (not landed, or not
   * yet): then the plan is never sent, so it never lands.
   */
  private async buildCommit(plan: CommitPlan): Promise<BuiltCommit | null> {
    const series = plan.series;
    const lastEvent = plan.events[plan.events.length - 1];
    const base = parseSeriesVersion(plan.baseVersion);
    if (!lastEvent || !base) return null;
    let baseState = this.cache.get(series)?.get(plan.baseVersion);
    if (!baseState) {
      const snap = await this.readSeries(series);
      if (!snap) return null;
      if (base.kind === 'predicted' && (snap.head !== base.afterBatch || snap.keyVersion !== base.keyVersion)) return null;
      // A stored base that has moved: the compare below fails, and these totals (added to a state
      // that may already hold this batch) are never written; the failure branch tells why.
      baseState = snap.state;
    }
    const stored: StoredState = {
      start: plan.next.start,
      hwm: plan.next.hwm,
      seq: plan.next.eventSeq,
      hash: plan.next.lastHash,
      counters: { ...plan.next.counters },
      totals: addTotals(baseState.totals, plan.totals),
      closedAt: plan.next.closedAt,
      lastTs: plan.next.lastEventAt,
      ...(plan.next.archived ? { archived: plan.next.archived } : {}),
    };
    // The next batch may be planned on this one while this one is built and sent: before any await.
    this.remember(series, nextSeriesVersion(plan.baseVersion, plan.batchId), stored);
    const stateKey = keys.state(series);
    // Keyed by the batch's LAST seq: the batch holding seq s is the first key >= s, an ascending
    // range (etcd fetches a whole range to sort it descending).
    const auditKey = keys.audit(series, lastEvent.seq);
    const ops: RequestOp[] = [
      { request_put: { key: stateKey, value: encodeState(stored) } },
      { request_put: { key: keys.head(series), value: Buffer.from(plan.batchId) } },
      { request_put: { key: auditKey, value: encodeAudit(plan.events) } },
    ];
    if (plan.next.hwm > baseState.hwm) {
      ops.push({ request_put: { key: keys.issue(series, plan.next.hwm), value: Buffer.from(String(lastEvent.seq)) } });
    }
    const numbers = await this.numberOps(plan);
    ops.push(...numbers.ops);
    if (plan.requests.length > 0) {
      // No lease (see sweepRequests); a record's age is also checked when read.
      for (const r of plan.requests) ops.push({ request_put: { key: keys.request(r.key), value: Buffer.from(encodeRequest(r)) } });
      ops.push({ request_put: { key: keys.keyAge(plan.committedAt, plan.batchId), value: Buffer.from(JSON.stringify(plan.requests.map((r) => r.key))) } });
    }
    if (plan.settings) {
      const { maintenance: _maintenance, ...current } = await this.loadSettings();
      ops.push({ request_put: { key: keys.settings, value: Buffer.from(JSON.stringify({ ...current, ...plan.settings })) } });
    }
    if (plan.maintenance === true) ops.push({ request_put: { key: keys.maintenance, value: Buffer.from(plan.events[plan.events.length - 1]?.reason ?? 'maintenance') } });
    if (plan.maintenance === false) ops.push({ request_delete_range: { key: keys.maintenance } });
    if (plan.migratedTo !== undefined) ops.push({ request_put: { key: keys.migrated, value: Buffer.from(plan.migratedTo) } });
    const bytes = ops.reduce((a, op) => a + ('request_put' in op ? op.request_put.key.length + op.request_put.value.length : 64), 0);
    if (ops.length > MAX_TXN_OPS || bytes > MAX_TXN_BYTES) {
      throw new BatchTooLargeError(`batch needs ${ops.length} operations and ${bytes} bytes, above etcd's per-transaction limits`);
    }
    const onBase: Compare[] =
      base.kind === 'stored'
        ? [{ key: stateKey, target: 'Mod', result: 'Equal', mod_revision: base.modRevision }]
        : [
            // Landed on its predecessor, and nothing (of any seqd version) wrote the state since.
            { key: keys.head(series), target: 'Value', result: 'Equal', value: Buffer.from(base.afterBatch) },
            { key: stateKey, target: 'Version', result: 'Equal', version: String(base.keyVersion) },
          ];
    const txn: TxnReq = {
      compare: [
        ...onBase,
        { key: auditKey, target: 'Create', result: 'Equal', create_revision: '0' },
        // The number chunks read above are unchanged (a batch still committing may touch them).
        ...numbers.read,
        // A key is recorded once across all series: unchanged since the planner looked it up.
        ...plan.requests.map((r) => ({ key: keys.request(r.key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: plan.requestVersions[r.key] ?? '0' })),
        // Maintenance off, checked inside the commit itself: no instance can slip a batch past a
        // switch, whatever settings it has cached. Only a batch that switches it is exempt.
        ...(plan.maintenance === undefined ? [{ key: keys.maintenance, target: 'Version' as const, result: 'Equal' as const, version: '0' }] : []),
        // A store the numbering migrated away from never leaves maintenance.
        ...(plan.maintenance === false ? [{ key: keys.migrated, target: 'Version' as const, result: 'Equal' as const, version: '0' }] : []),
      ],
      success: ops,
      failure: [{ request_range: { key: auditKey } }, { request_range: { key: stateKey } }, { request_range: { key: keys.maintenance } }, { request_range: { key: keys.migrated } }],
    };
    return { txn, stored, keyVersion: base.keyVersion + 1, unanswered: 0 };
  }

  /**
   * Keeps the state at `version` for totals. A load keeps the predictions of batches still
   * committing (a read of the series must not cost the pipeline); a wrong one is never written,
   * since the batch planned on it compares its base.
   */
  private remember(series: string, version: string, state: StoredState): void {
    let known = this.cache.get(series);
    if (!known) this.cache.set(series, (known = new Map()));
    known.delete(version);
    known.set(version, state);
    for (const old of known.keys()) {
      if (known.size <= CACHED_VERSIONS) break;
      known.delete(old);
    }
  }

  async readEvents(series: string, afterSeq: number, limit: number): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    for (const e of await this.readBatches(series, afterSeq + 1)) {
      if (e.seq > afterSeq && out.length < limit) out.push(e);
    }
    return out;
  }

  async queryEvents(q: AuditQuery): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    let scanned = 0;
    if (q.order === 'asc') {
      let next = (q.cursor ?? 0) + 1;
      while (out.length < q.limit && scanned < MAX_SCAN_EVENTS) {
        const events = await this.readBatches(q.series, next);
        if (events.length === 0) break;
        for (const e of events) {
          if (e.seq < next) continue;
          scanned++;
          if (out.length < q.limit && matches(e, q)) out.push(e);
        }
        next = (events[events.length - 1]?.seq ?? next) + 1;
      }
      return out;
    }
    // Newest first, without a descending range: read growing windows of seqs backwards.
    const top = await this.getOne(keys.state(q.series));
    let hi = Math.min(q.cursor === undefined ? Infinity : q.cursor - 1, top ? decodeState(top.value).seq : 0);
    let window = Math.max(q.limit, 64);
    while (hi >= 1 && out.length < q.limit && scanned < MAX_SCAN_EVENTS) {
      const lo = Math.max(1, hi - window + 1);
      const events: AuditEvent[] = [];
      for (let next = lo; next <= hi; ) {
        const page = await this.readBatches(q.series, next);
        if (page.length === 0) break;
        for (const e of page) if (e.seq >= next && e.seq <= hi) events.push(e);
        next = (page[page.length - 1]?.seq ?? hi) + 1;
      }
      for (let i = events.length - 1; i >= 0; i--) {
        const e = events[i] as AuditEvent;
        scanned++;
        if (out.length < q.limit && matches(e, q)) out.push(e);
      }
      hi = lo - 1;
      window = Math.min(window * 2, 8192);
    }
    return out;
  }

  private readBatches(series: string, from: number): Promise<AuditEvent[]> {
    return readBatches((req) => this.range(req), series, from);
  }

  async listNumbers(q: NumberQuery): Promise<NumberRecord[]> {
    return readNumberPage((req) => this.range(req), q);
  }

  async totals(series: string): Promise<TotalsRow[]> {
    const kv = await this.getOne(keys.state(series));
    return kv ? decodeState(kv.value).totals : [];
  }

  async listSeries(): Promise<string[]> {
    return [...(await this.seriesVersions()).keys()];
  }

  async seriesVersions(): Promise<Map<string, string>> {
    // Keys only: a state key's revision and version are its series' version, without its value.
    const res = await this.range({ key: keys.statePrefix, range_end: prefixEnd(keys.statePrefix), keys_only: true });
    const listed = res.kvs.map((kv) => [kv.key.toString().slice(keys.statePrefix.length), storedVersion(kv.mod_revision, kv.version)] as const);
    return new Map(listed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  async loadSettings(): Promise<Partial<Settings>> {
    const res = await this.readTxn('read settings', [{ request_range: { key: keys.settings } }, { request_range: { key: keys.maintenance } }, { request_range: { key: keys.migrated } }]);
    const settings = decodeSettingsValue(res.responses[0]?.response_range?.kvs[0]);
    const migrated = res.responses[2]?.response_range?.kvs[0];
    return {
      ...settings,
      ...(res.responses[1]?.response_range?.kvs[0] ? { maintenance: true } : {}),
      ...(migrated ? { migratedTo: migrated.value.toString() } : {}),
    };
  }

  async loadIdentity(): Promise<StoreIdentity | null> {
    if (await this.getOne(RESTORING_KEY)) throw new StoreUnavailableError(`etcd: ${RESTORE_UNFINISHED}`);
    const kv = await this.getOne(keys.identity);
    return kv ? (JSON.parse(kv.value.toString()) as StoreIdentity) : null;
  }

  async saveIdentity(next: StoreIdentity, expected: StoreIdentity | null): Promise<StoreIdentity> {
    const kv = await this.getOne(keys.identity);
    if ((kv?.value.toString() ?? null) === (expected ? canonical(expected) : null)) {
      // Compared on the revision read: an instance that wrote in between wins, and its identity is answered.
      await this.retrying('save the store identity', () =>
        this.client.txn({
          compare: [kv ? { key: keys.identity, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision } : { key: keys.identity, target: 'Create', result: 'Equal', create_revision: '0' }],
          success: [{ request_put: { key: keys.identity, value: Buffer.from(canonical(next)) } }],
          failure: [],
        }),
      );
    }
    const stored = await this.loadIdentity();
    if (!stored) throw new StoreUnavailableError('etcd: the store identity was not written');
    return stored;
  }

  async health(): Promise<StoreHealth> {
    const members = await this.client.memberStatus();
    try {
      await this.client.range({ key: keys.settings });
      return { kind: this.kind, healthy: true, detail: { endpoints: this.o.endpoints, members } };
    } catch (error) {
      return { kind: this.kind, healthy: false, detail: { endpoints: this.o.endpoints, members, error: (error as Error).message } };
    }
  }

  async openSnapshot(): Promise<StoreSnapshot> {
    return EtcdSnapshot.open((req) => this.range(req));
  }

  openLoader(): StoreLoader {
    return new EtcdLoader(this.client);
  }

  async close(): Promise<void> {
    await this.stopAnnouncing?.();
    this.client.close();
  }

  private stopAnnouncing: (() => Promise<void>) | null = null;

  /** Registers this seqd instance under a lease, for the dashboard and stats (display only). */
  announce(node: string, info: Record<string, unknown>): void {
    // The data format it knows: an archive waits until every instance knows archives.
    this.stopAnnouncing = this.client.keepAlive(`seqd/instances/${node}`, JSON.stringify({ node, format: ETCD_FORMAT, ...info }), 5);
  }

  /**
   * An archive mark is safe only when every instance serving the store knows it: one of an older
   * format would plan on the series as if it were not archived and write its state without the
   * mark. An older seqd that starts later is refused at open (the format key), so the instances
   * announced now are the ones to check.
   */
  private async refuseOlderInstances(): Promise<void> {
    const older = (await this.instances()).filter((i) => typeof i['format'] !== 'number' || i['format'] < ETCD_FORMAT);
    if (older.length > 0) {
      const names = older.map((i) => String(i['node'])).join(', ');
      throw new ValidationError(`seqd instances of an older version serve this store (${names}): upgrade them before archiving; nothing was done`, { field: 'series' });
    }
  }

  /** The seqd instances whose lease is alive. */
  async instances(): Promise<Record<string, unknown>[]> {
    const prefix = Buffer.from('seqd/instances/');
    const res = await this.range({ key: prefix, range_end: prefixEnd(prefix) });
    return res.kvs.map((kv) => JSON.parse(kv.value.toString()) as Record<string, unknown>);
  }

  memberStatus() {
    return this.client.memberStatus();
  }

  /** Calls to etcd that ran into their per-call deadline since start (see EtcdKvClient.callsRanOut). */
  callsRanOut(): number {
    return this.client.callsRanOut();
  }

  private async conflict(series: string, start: number): Promise<CommitResult> {
    this.cache.delete(series);
    return { status: 'conflict', state: await this.loadSeries(series, start) };
  }

  /** Gap chunks (rewritten from the planned open gaps) and number chunks touched by the plan. */
  private async numberOps(plan: CommitPlan): Promise<{ ops: RequestOp[]; read: Compare[] }> {
    if (plan.numberChanges.length === 0) return { ops: [], read: [] };
    const series = plan.series;
    const chunks = [...new Set(plan.numberChanges.map((c) => chunkOf(c.number)))];
    const ops: RequestOp[] = [];
    for (const c of chunks) {
      const inChunk = plan.next.openGaps.filter((g) => chunkOf(g.number) === c);
      const key = keys.gaps(series, c);
      ops.push(inChunk.length ? { request_put: { key, value: encodeGaps(inChunk) } } : { request_delete_range: { key } });
    }
    // Number chunks are read-modify-write. The state compare alone does not guard the read: a
    // batch still committing (this one is planned on it) may rewrite the chunk after it.
    const res = await this.readTxn('read number chunks', chunks.map((c) => ({ request_range: { key: keys.nums(series, c) } })));
    const read: Compare[] = [];
    chunks.forEach((c, i) => {
      const kv = res.responses[i]?.response_range?.kvs[0];
      read.push(
        kv
          ? { key: keys.nums(series, c), target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }
          : { key: keys.nums(series, c), target: 'Create', result: 'Equal', create_revision: '0' },
      );
      const chunk = kv ? decodeNums(kv.value) : new Map<number, NumberRecord>();
      for (const ch of plan.numberChanges) {
        if (chunkOf(ch.number) !== c) continue;
        if (ch.status === 'open') chunk.delete(ch.number);
        else chunk.set(ch.number, { ...ch, changedAt: plan.committedAt });
      }
      const key = keys.nums(series, c);
      ops.push(chunk.size ? { request_put: { key, value: encodeNums(chunk) } } : { request_delete_range: { key } });
    });
    return { ops, read };
  }

  /**
   * Holders of numbers issued from the counter: for each, the batch that moved the HWM past it.
   * One batch record covers many numbers (a batch holds many issue ranges), so each record is
   * read once however many of the numbers it holds.
   */
  private async counterHolders(series: string, numbers: readonly number[]): Promise<Map<number, NumberRecord>> {
    const found = new Map<number, NumberRecord>();
    const issues: AuditEvent[] = [];
    const covering = (n: number) => issues.find((e) => (e.first ?? Infinity) <= n && n <= (e.last ?? -Infinity));
    const prefix = keys.issuePrefix(series);
    for (const n of [...new Set(numbers)].sort((a, b) => a - b)) {
      if (!covering(n)) {
        const idx = await this.range({ key: keys.issue(series, n), range_end: prefixEnd(prefix), limit: 1 });
        const kv = idx.kvs[0];
        const audit = kv && (await this.getOne(keys.audit(series, Number(kv.value.toString()))));
        if (audit) issues.push(...decodeAudit(audit.value).events.filter((e) => e.type === 'issue' || e.type === 'import'));
      }
      const e = covering(n);
      if (e) found.set(n, { number: n, status: 'issued', siteId: e.siteId ?? '', partitionId: e.partitionId ?? '', invoiceType: e.invoiceType as InvoiceType, reason: null, changedAt: e.ts, grant: e.seq });
    }
    return found;
  }

  /** State key and open gaps read at one revision. */
  private async readSeries(series: string): Promise<{ version: string; keyVersion: number; head: string | null; state: StoredState; gaps: OpenGap[] } | null> {
    const gp = keys.gapsPrefix(series);
    const res = await this.readTxn('load series', [
      { request_range: { key: keys.state(series) } },
      { request_range: { key: gp, range_end: prefixEnd(gp) } },
      { request_range: { key: keys.head(series) } },
    ]);
    const kv = res.responses[0]?.response_range?.kvs[0];
    if (!kv) return null;
    const gaps = (res.responses[1]?.response_range?.kvs ?? []).flatMap((g) => decodeGaps(g.value)).sort((a, b) => a.number - b.number);
    const head = res.responses[2]?.response_range?.kvs[0]?.value.toString() ?? null;
    return { version: storedVersion(kv.mod_revision, kv.version), keyVersion: Number(kv.version), head, state: decodeState(kv.value), gaps };
  }

  private readTxn(what: string, ops: RequestOp[]): Promise<TxnRes> {
    return this.retrying(what, (retry) => this.client.txn({ compare: [], success: ops, failure: [] }, retry));
  }

  private range(req: RangeReq) {
    return this.retrying('read', (retry) => this.client.range(req, retry));
  }

  private async getOne(key: Buffer): Promise<Kv | undefined> {
    return (await this.range({ key })).kvs[0];
  }

  /**
   * Runs an idempotent call until it answers, within the retry budget: transient errors (leader
   * change, timeout, member down) are retried with a short backoff, on whichever member the
   * client picks next. Past the budget, or on any other error, the store is unavailable.
   */
  private async retrying<T>(what: string, call: (retry: CallRetry) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.budgetMs;
    let delay = 20;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call({ until: deadline });
      } catch (error) {
        // Every member's breaker open (all timed out at once, as in an election) is no answer
        // either: wait for one to let calls through again, within the budget.
        const transient = isTransientEtcdError(error) || isBrokenCircuitError(error);
        if (!transient || Date.now() + delay > deadline) {
          throw new StoreUnavailableError(`etcd: ${what} failed after ${attempt} attempt(s): ${(error as Error).message}`, { cause: error });
        }
        await sleep(delay);
        delay = Math.min(200, delay * 2);
      }
    }
  }
}


function toSeriesState(series: string, s: StoredState, version: string, openGaps: OpenGap[]): SeriesState {
  return { series, start: s.start, hwm: s.hwm, version, eventSeq: s.seq, lastHash: s.hash, openGaps, counters: s.counters, closedAt: s.closedAt, lastEventAt: s.lastTs, ...(s.archived ? { archived: s.archived } : {}) };
}

function addTotals(current: readonly TotalsRow[], deltas: CommitPlan['totals']): TotalsRow[] {
  const out = current.map((t) => ({ ...t }));
  for (const d of deltas) {
    const t = out.find((x) => x.siteId === d.siteId && x.partitionId === d.partitionId && x.invoiceType === d.invoiceType);
    if (t) {
      t.issued += d.issued;
      t.refilled += d.refilled;
      t.released += d.released;
    } else {
      out.push({ siteId: d.siteId, partitionId: d.partitionId, invoiceType: d.invoiceType, issued: d.issued, refilled: d.refilled, released: d.released });
    }
  }
  return out.sort((a, b) => `${a.siteId}/${a.partitionId}/${a.invoiceType}`.localeCompare(`${b.siteId}/${b.partitionId}/${b.invoiceType}`));
}

/** The audit filters, for a store that scans instead of querying an index. */
export function matches(e: AuditEvent, q: AuditQuery): boolean {
  if (q.cursor !== undefined && (q.order === 'desc' ? e.seq >= q.cursor : e.seq <= q.cursor)) return false;
  if (q.number !== undefined && (e.first === null || e.last === null || q.number < e.first || q.number > e.last)) return false;
  if (q.siteId !== undefined && e.siteId !== q.siteId) return false;
  if (q.partitionId !== undefined && e.partitionId !== q.partitionId) return false;
  if (q.invoiceType !== undefined && e.invoiceType !== q.invoiceType) return false;
  if (q.type !== undefined && e.type !== q.type) return false;
  if (q.from !== undefined && e.ts < q.from) return false;
  if (q.to !== undefined && e.ts > q.to) return false;
  return true;
}

