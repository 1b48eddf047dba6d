import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { SequenceService } from '../service/sequence-service.js';
import type { ClusterInfo } from '../storage/open-store.js';

const TICK_MS = 500;
/** Tells this process's generations of closed series from another instance's, or a restart's. */
const PROCESS_ID = randomUUID().slice(0, 8);
const CLUSTER_EVERY_TICKS = 4;

/**
 * Server-sent events for the dashboard. One timer builds ONE aggregated snapshot per tick for all
 * open pages (never a message per number), and only while at least one page is connected.
 */
export class LiveHub {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | null = null;
  private tick = 0;
  private cluster: ClusterInfo | null = null;
  private building = false;

  constructor(
    private readonly service: SequenceService,
    private readonly clusterInfo: () => Promise<ClusterInfo | null>,
    private readonly hello: () => Record<string, unknown>,
    private readonly log: Logger,
  ) {}

  get connections(): number {
    return this.clients.size;
  }

  /** Takes over a raw response as an event stream. */
  attach(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Reconnect quickly after a server restart.
    res.write('retry: 1000\n\n');
    this.clients.add(res);
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stopTimer();
    });
    write(res, 'hello', { ...this.hello(), timeline: this.service.perf.timeline(120) });
    if (!this.timer) {
      this.timer = setInterval(() => void this.broadcastSnapshot(), TICK_MS);
      this.timer.unref();
    }
    void this.broadcastSnapshot();
  }

  /** Sends an event to every open page at once (demo progress and results). */
  publish(event: string, data: unknown): void {
    for (const res of this.clients) write(res, event, data);
  }

  close(): void {
    this.stopTimer();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async broadcastSnapshot(): Promise<void> {
    if (this.building || this.clients.size === 0) return;
    this.building = true;
    try {
      if (this.tick++ % CLUSTER_EVERY_TICKS === 0) this.cluster = await this.clusterInfo().catch(() => this.cluster);
      const snapshot = await this.snapshot();
      this.publish('snapshot', snapshot);
    } catch (error) {
      this.publish('snapshot-error', { message: (error as Error).message });
      this.log.warn({ err: error }, 'dashboard snapshot failed');
    } finally {
      this.building = false;
    }
  }

  private async snapshot() {
    const s = this.service;
    const [all, store] = await Promise.all([s.seriesStates(), s.health()]);
    // Sent every tick to every page: live series only. The page reads the others from the series
    // list, again whenever `earlierSeries.generation` changes.
    const states = all.filter((st) => s.isLive(st));
    const totals = await s.totalsOfSeries(states);
    const series = states.map((st) => ({
      name: st.series,
      start: st.start,
      highWaterMark: st.hwm,
      issued: st.counters.issued,
      refilled: st.counters.refilled,
      released: st.counters.released,
      openGaps: st.openGaps.length,
      voidGaps: st.counters.voided,
      auditEvents: st.eventSeq,
      closed: st.closedAt !== null,
      // Where an archived series went (null: still here).
      archivedTo: st.archived?.file ?? null,
    }));
    const defaultSeries = s.defaultSeries();
    const main = series.find((x) => x.name === defaultSeries);
    const timeline = s.perf.timeline(3);
    return {
      t: Date.now(),
      node: s.node,
      series,
      // The page reads the earlier series again when this changes: a series leaving the live
      // window changes the count; one changing, the generation (this process's: hence its id).
      earlierSeries: { count: all.length - states.length, generation: `${PROCESS_ID}.${s.closedSeriesGeneration}` },
      highWaterMark: main?.highWaterMark ?? 0,
      defaultSeries,
      auditEvents: main?.auditEvents ?? 0,
      totals,
      perf: s.perf.snapshot(10),
      perfMinute: s.perf.snapshot(60),
      sinceStart: { requests: s.perf.totalRequests, numbers: s.perf.totalNumbers },
      // The last complete second and the current one; the page keeps its own history.
      timeline,
      recent: s.recent.list(15),
      settings: s.shownSettings,
      store: { kind: store.kind, healthy: store.healthy, error: store.detail.error ?? null, path: store.detail.path ?? null, replication: store.replication ?? null },
      cluster: this.cluster,
    };
  }
}

function write(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
