import { DEFAULT_SERIES, type SequenceService } from './sequence-service.js';

type Tally = Record<string, { issued: number; refilled: number; released: number }>;

function add(tally: Tally, key: string, row: { issued: number; refilled: number; released: number }): void {
  const t = (tally[key] ??= { issued: 0, refilled: 0, released: 0 });
  t.issued += row.issued;
  t.refilled += row.refilled;
  t.released += row.released;
}

/** The `/api/v1/sequence/stats` document: series, totals, gaps, performance, store health. */
export async function buildStats(service: SequenceService) {
  const [states, totals, store] = await Promise.all([service.seriesStates(), service.totals(), service.health()]);
  const series = states.map((s) => ({
    name: s.series,
    start: s.start,
    highWaterMark: s.hwm,
    nextNumber: s.hwm + 1,
    issued: s.counters.issued,
    refilled: s.counters.refilled,
    released: s.counters.released,
    openGaps: s.openGaps.length,
    voidGaps: s.counters.voided,
    lowestOpenGap: s.openGaps[0]?.number ?? null,
    auditEvents: s.eventSeq,
  }));
  const main = series.find((s) => s.name === DEFAULT_SERIES) ?? series[0];
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
    series,
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
