import { pageOfSeries, type SeriesStatus } from '../domain/series-page.js';
import { parseSeriesName } from '../domain/series-strategy.js';
import type { SeriesState } from '../domain/types.js';
import type { SequenceService } from './sequence-service.js';

type Tally = Record<string, { issued: number; refilled: number; released: number }>;

function add(tally: Tally, key: string, row: { issued: number; refilled: number; released: number }): void {
  const t = (tally[key] ??= { issued: 0, refilled: 0, released: 0 });
  t.issued += row.issued;
  t.refilled += row.refilled;
  t.released += row.released;
}

/** One series as stats and the series list show it. */
export function seriesSummary(s: SeriesState) {
  return {
    name: s.series,
    period: parseSeriesName(s.series).period,
    status: s.archived ? ('archived' as const) : s.closedAt === null ? ('open' as const) : ('closed' as const),
    closedAt: s.closedAt === null ? null : new Date(s.closedAt).toISOString(),
    start: s.start,
    highWaterMark: s.hwm,
    // A closed series gives no more numbers: showing HWM + 1 would promise one.
    nextNumber: s.closedAt === null ? s.hwm + 1 : null,
    issued: s.counters.issued,
    refilled: s.counters.refilled,
    released: s.counters.released,
    openGaps: s.openGaps.length,
    voidGaps: s.counters.voided,
    lowestOpenGap: s.openGaps[0]?.number ?? null,
    auditEvents: s.eventSeq,
    // Where an archived series' events and number records went (null: still here).
    archive: s.archived ? { ...s.archived, archivedAt: new Date(s.archived.archivedAt).toISOString() } : null,
  };
}

/**
 * The report of one series: its summary, totals by holder and type, the head of its audit chain
 * and, once closed, the close event. For a closed series this is its final report.
 */
export async function seriesReport(service: SequenceService, name: string) {
  const series = await service.readSeries(name);
  const state = await service.store.loadSeries(series, service.firstNumber);
  // Archived: the close event went with the archive, the archive event stays (it names the file).
  const [totals, closeEvents] = await Promise.all([
    service.totals(series),
    state.closedAt === null ? [] : service.audit({ series, type: state.archived ? 'archive' : 'close', order: 'desc', limit: 1 }),
  ]);
  const close = closeEvents[0];
  return {
    ...seriesSummary(state),
    final: state.closedAt !== null,
    totals,
    chainHead: { event: state.eventSeq, hash: state.lastHash },
    closeEvent: close ? { seq: close.seq, reason: close.reason, node: close.node, timestamp: new Date(close.ts).toISOString(), hash: close.hash } : null,
  };
}

/** The `/api/v1/sequence/stats` document: series, totals, gaps, performance, store health. */
export async function buildStats(service: SequenceService, status?: SeriesStatus) {
  const [states, store] = await Promise.all([service.seriesStates(), service.health()]);
  const totals = await service.totalsOfSeries(states);
  const series = states.map(seriesSummary);
  const defaultSeries = service.defaultSeries();
  const main = series.find((s) => s.name === defaultSeries);
  const bySite: Tally = {};
  const byPartition: Tally = {};
  const byType: Tally = {};
  const bySitePartition: Tally = {};
  for (const row of totals) {
    add(bySite, row.siteId, row);
    add(byPartition, row.partitionId, row);
    add(byType, row.invoiceType, row);
    add(bySitePartition, `${row.siteId}/${row.partitionId}`, row);
  }
  const perf = service.perf;
  return {
    highWaterMark: main?.highWaterMark ?? 0,
    defaultSeries,
    // The totals stay those of every series: `status` only shortens the listing.
    series: status === undefined ? series : pageOfSeries(series, { status }).series,
    totals: {
      issued: series.reduce((a, s) => a + s.issued, 0),
      refilled: series.reduce((a, s) => a + s.refilled, 0),
      released: series.reduce((a, s) => a + s.released, 0),
      openGaps: series.reduce((a, s) => a + s.openGaps, 0),
      voidGaps: series.reduce((a, s) => a + s.voidGaps, 0),
      bySite,
      byPartition,
      byType,
      bySitePartition,
    },
    performance: {
      sinceStart: { requests: perf.totalRequests, numbers: perf.totalNumbers },
      last10s: perf.snapshot(10),
      last60s: perf.snapshot(60),
    },
    settings: service.shownSettings,
    store,
    node: service.node,
    uptimeSeconds: Math.round((Date.now() - service.startedAt) / 1000),
    timestamp: new Date().toISOString(),
  };
}
