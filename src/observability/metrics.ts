import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SeriesState } from '../domain/types.js';
import type { ServiceObserver } from '../service/sequence-service.js';
import type { BatchPhase } from '../service/series-worker.js';
import type { ClusterInfo } from '../storage/open-store.js';
import type { StoreHealth } from '../storage/sequence-store.js';
import { BackupMetrics } from './backup-metrics.js';
import { registerReplicationGauges } from './replication-metrics.js';

export interface MetricsSources {
  /** Every numbering series, read at scrape time. */
  readonly seriesStates: () => Promise<SeriesState[]>;
  /** Series stopped because their stored state contradicts their trail (name → problem). */
  readonly mismatchedSeries: () => ReadonlyMap<string, string>;
  /** The last verify of each series run on this instance: valid or not, when (epoch ms). */
  readonly lastVerifies: () => ReadonlyMap<string, { readonly valid: boolean; readonly at: number }>;
  /** Per series: reservations about to expire unconfirmed (absent without a reservation timeout). */
  readonly expiringReservations?: () => ReadonlyMap<string, number>;
  /** Whether a series is live (open, or closed recently) by this instance's clock: see `isLiveSeries`. */
  readonly isLive: (state: SeriesState) => boolean;
  /** Whether an open series' period ended (plus the grace time) by this instance's clock. */
  readonly periodEnded: (series: string) => boolean;
  /** etcd members as this instance sees them (null on the embedded store). */
  readonly clusterInfo: () => Promise<ClusterInfo | null>;
  readonly storeKind: string;
  /** The store's health, for the PostgreSQL replication gauges. */
  readonly storeHealth?: () => Promise<StoreHealth>;
  /** Whether the store is in maintenance (as this instance last read it). */
  readonly maintenance?: () => boolean;
}

/** Seconds: from a tenth of a millisecond (one embedded commit) to ten seconds (a stall). */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/**
 * The Prometheus metrics of one instance (`GET /metrics`). Counters and histograms are fed on
 * the way (one increment per request or commit, no per-number work); series and cluster gauges
 * are read when scraped, so they show what the store holds, whichever instance wrote it.
 */
export class SeqdMetrics implements ServiceObserver {
  readonly registry = new Registry();
  private readonly allocations: Counter<'site' | 'partition' | 'invoice_type'>;
  private readonly requests: Histogram<'method' | 'route' | 'status'>;
  private readonly batchOps: Histogram;
  private readonly commitSeconds: Histogram<'store'>;
  private readonly phases: Histogram<'phase'>;
  private readonly conflicts: Counter;
  private readonly errors: Counter<'code' | 'status'>;
  private readonly leaderChanges: Counter;
  private lastLeader: string | null = null;
  /** Scheduled backups and maintenance. */
  readonly backups: BackupMetrics;

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'seqd_' });
    this.allocations = new Counter({
      name: 'seqd_allocated_numbers_total',
      help: 'Numbers handed out (counter and refills), by site, partition and invoice type; retries answered from an idempotency key are not counted',
      labelNames: ['site', 'partition', 'invoice_type'],
      registers,
    });
    this.requests = new Histogram({
      name: 'seqd_http_request_duration_seconds',
      help: 'HTTP request latency by method, route (template) and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchOps = new Histogram({ name: 'seqd_commit_batch_ops', help: 'Requests (ops) per committed batch', buckets: BATCH_BUCKETS, registers });
    this.commitSeconds = new Histogram({
      name: 'seqd_store_commit_duration_seconds',
      help: 'Time of one atomic, durable store commit (fsync on SQLite, quorum on etcd)',
      labelNames: ['store'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.phases = new Histogram({
      name: 'seqd_batch_phase_seconds',
      help: 'Steps of a batch besides the store commit: queue (oldest request waiting), plan (load and plan), forward (round trip to the committing instance)',
      labelNames: ['phase'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.conflicts = new Counter({ name: 'seqd_commit_conflicts_total', help: 'Commits refused by compare-and-swap (another writer moved the series); re-planned', registers });
    this.errors = new Counter({ name: 'seqd_errors_total', help: 'Error replies by code and HTTP status', labelNames: ['code', 'status'], registers });
    this.backups = new BackupMetrics(registers, () => this.sources.maintenance?.() ?? false);
    this.seriesGauges(registers);
    this.clusterGauges(registers);
    if (this.sources.storeKind === 'postgres' && this.sources.storeHealth) registerReplicationGauges(registers, once(this.sources.storeHealth));
    // After the cluster gauges: their collection (at scrape time) counts the changes it sees.
    this.leaderChanges = new Counter({
      name: 'seqd_etcd_leader_changes_total',
      help: 'etcd leader changes this instance observed between scrapes (see also seqd_etcd_raft_term)',
      registers,
    });
  }

  allocated(siteId: string, partitionId: string, invoiceType: string, count: number): void {
    this.allocations.inc({ site: siteId, partition: partitionId, invoice_type: invoiceType }, count);
  }

  committed(ops: number, seconds: number): void {
    this.batchOps.observe(ops);
    this.commitSeconds.observe({ store: this.sources.storeKind }, seconds);
  }

  phase(phase: BatchPhase, seconds: number): void {
    this.phases.observe({ phase }, seconds);
  }

  conflicted(): void {
    this.conflicts.inc();
  }

  request(method: string, route: string, status: number, seconds: number): void {
    this.requests.observe({ method, route, status: String(status) }, seconds);
  }

  error(code: string, status: number): void {
    this.errors.inc({ code, status: String(status) });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private seriesGauges(registers: Registry[]): void {
    // prom-client collects all metrics of a scrape at once: the gauges share one store read.
    const all = once(() => this.sources.seriesStates());
    // Per-series gauges for live series only (open, or closed within the last 35 days): a time
    // series per gauge and per series closed years ago would grow every scrape with history.
    const states = async () => (await all()).filter((s) => this.sources.isLive(s));
    const count: Gauge<'status'> = new Gauge({
      name: 'seqd_series_count',
      help: 'Series in the store by status (open, closed, archived); per-series gauges cover open series and those closed in the last 35 days',
      labelNames: ['status'],
      registers,
      collect: async () => {
        const by = { open: 0, closed: 0, archived: 0 };
        for (const s of await all()) by[s.archived ? 'archived' : s.closedAt === null ? 'open' : 'closed']++;
        for (const [status, n] of Object.entries(by)) count.set({ status }, n);
      },
    });
    const gauge = (name: string, help: string, value: (s: SeriesState) => number) => {
      const g: Gauge<'series'> = new Gauge({
        name,
        help,
        labelNames: ['series'],
        registers,
        collect: async () => {
          g.reset();
          for (const s of await states()) g.set({ series: s.series }, value(s));
        },
      });
    };
    gauge('seqd_series_high_water_mark', 'Highest number issued, per series', (s) => s.hwm);
    gauge('seqd_series_open_gaps', 'Released numbers waiting to be refilled, per series', (s) => s.openGaps.length);
    gauge('seqd_series_void_numbers', 'Numbers that will never be used, per series', (s) => s.counters.voided);
    gauge('seqd_series_refilled_numbers', 'Refills since the series started (kept by the store)', (s) => s.counters.refilled);
    gauge('seqd_series_released_numbers', 'Releases since the series started (kept by the store)', (s) => s.counters.released);
    // Gauges of what this instance keeps per series, set afresh at every scrape.
    const perSeries = (name: string, help: string, entries: () => Iterable<readonly [string, number]>) => {
      const g: Gauge<'series'> = new Gauge({
        name,
        help,
        labelNames: ['series'],
        registers,
        collect: () => {
          g.reset();
          for (const [series, v] of entries()) g.set({ series }, v);
        },
      });
    };
    perSeries('seqd_series_state_mismatch', '1 while a series serves nothing because its stored state contradicts its audit trail (alert on any)', () =>
      [...this.sources.mismatchedSeries().keys()].map((series) => [series, 1] as const),
    );
    const verifies = (value: (v: { valid: boolean; at: number }) => number) => () => [...this.sources.lastVerifies()].map(([series, v]) => [series, value(v)] as const);
    perSeries('seqd_audit_verify_valid', '1 if the last audit verify of the series run on this instance found it valid, 0 if not', verifies((v) => (v.valid ? 1 : 0)));
    perSeries('seqd_audit_verify_last_timestamp_seconds', 'When the last audit verify of the series ran on this instance', verifies((v) => v.at / 1000));
    perSeries(
      'seqd_reservations_expiring',
      'Numbers handed out, neither confirmed nor released, that expire within the look-ahead (reservation timeout on; counted among the 2,000 closest to expiry)',
      () => this.sources.expiringReservations?.() ?? [],
    );
    gauge('seqd_series_close_overdue', '1 while a series whose period ended (plus the grace time) is still open', (s) =>
      s.closedAt === null && this.sources.periodEnded(s.series) ? 1 : 0,
    );
    gauge('seqd_series_closed', '1 once the series is closed (its period ended)', (s) => (s.closedAt === null ? 0 : 1));
  }

  private clusterGauges(registers: Registry[]): void {
    let ranOutSeen = 0;
    const ranOut: Counter = new Counter({
      name: 'seqd_etcd_calls_ran_out_total',
      help: 'Calls to etcd that got no answer within their per-call deadline (a member paused, overloaded or cut off); each is tried again on another member',
      registers,
      collect: async () => {
        await members();
      },
    });
    const members = once(async () => {
      const info = await this.sources.clusterInfo();
      if (info && info.callsRanOut > ranOutSeen) {
        ranOut.inc(info.callsRanOut - ranOutSeen);
        ranOutSeen = info.callsRanOut;
      }
      const list = info?.members ?? [];
      const leader = list.find((m) => m.isLeader)?.memberId;
      if (leader) {
        if (this.lastLeader !== null && this.lastLeader !== leader) this.leaderChanges.inc();
        this.lastLeader = leader;
      }
      return list;
    });
    type Member = Awaited<ReturnType<typeof members>>[number];
    const gauge = (name: string, help: string, value: (m: Member) => number | undefined) => {
      const g: Gauge<'member'> = new Gauge({
        name,
        help,
        labelNames: ['member'],
        registers,
        collect: async () => {
          g.reset();
          for (const m of await members()) {
            const v = value(m);
            if (v !== undefined) g.set({ member: m.name ?? m.endpoint }, v);
          }
        },
      });
    };
    gauge('seqd_etcd_member_up', '1 when the etcd member answers its status call', (m) => (m.reachable ? 1 : 0));
    gauge('seqd_etcd_member_is_leader', '1 for the current etcd leader', (m) => (m.isLeader ? 1 : 0));
    gauge('seqd_etcd_db_size_bytes', 'etcd backend size per member (mind the storage quota)', (m) => m.dbSizeBytes);
    const term: Gauge = new Gauge({
      name: 'seqd_etcd_raft_term',
      help: 'Highest raft term seen (each election raises it)',
      registers,
      collect: async () => {
        const list = await members();
        term.reset();
        if (list.length) term.set(Math.max(...list.map((m) => Number(m.raftTerm ?? 0))));
      },
    });
  }
}

/**
 * One call shared by everything that asks within the same scrape (calls that overlap, or start
 * within 100 ms of the last answer).
 */
function once<T>(read: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | null = null;
  return () => {
    const now = Date.now();
    if (!last || now - last.at > 100) last = { at: now, value: read() };
    return last.value;
  };
}
