import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barChart, lineChart } from './svg-chart.js';
import type { Row } from './types.js';

/** One point of a connection sweep: a scenario at one number of connections. */
export interface SweepPoint {
  readonly scenario: string;
  readonly tool: string;
  readonly connections: number;
  readonly requestsPerSec: number;
  readonly numbersPerSec: number;
  readonly p99Ms: number;
  readonly errors: number;
}

/** Leader kills under load: each kill's stall and what the keyed clients saw. */
export interface FailoverResult {
  readonly kills: number;
  /** Per kill, the longest time without a successful answer from the kill on (ms). */
  readonly stallsMs: readonly number[];
  /** Per kill, when a surviving member had become the leader (ms after the kill). */
  readonly electedMs: readonly number[];
  readonly medianStallMs: number;
  readonly worstStallMs: number;
  /** Keyed requests that never succeeded, whatever the retries. */
  readonly failedKeys: number;
  readonly requests: number;
  /** Numbers answered to two different idempotency keys (must be 0). */
  readonly duplicates: number;
}

export const sweepPoint = (r: Row): SweepPoint => ({
  scenario: r.scenario,
  tool: r.tool,
  connections: r.connections,
  requestsPerSec: r.requestsPerSec,
  numbersPerSec: r.numbersPerSec,
  p99Ms: r.latencyMs.p99,
  errors: r.errors,
});

/** Bucket edges of the stall histogram (ms). */
const STALL_EDGES = [250, 500, 750, 1000, 1250, 1500, 2000, 3000];

/**
 * Writes the scaling charts (throughput and p99 against connections, one line per scenario) and,
 * when there is one, the failover stall histogram. Answers the files written.
 */
export function writeCharts(dir: string, sweep: readonly SweepPoint[], failover: FailoverResult | null, subtitle: string): string[] {
  mkdirSync(dir, { recursive: true });
  const names = [...new Set(sweep.map((p) => p.scenario))];
  const series = (y: (p: SweepPoint) => number) => names.map((name) => ({ name: name.replace(/^alternative: /, '').replace(/ \(.*\)$/, ''), points: sweep.filter((p) => p.scenario === name).map((p) => [p.connections, y(p)] as const) }));
  const files: [string, string][] = [
    ['throughput.svg', lineChart({ title: 'Numbers per second against connections (count=1)', subtitle, xLabel: 'connections (log scale)', yLabel: 'numbers / s (log scale)', yLog: true, series: series((p) => p.numbersPerSec || p.requestsPerSec) })],
    ['p99.svg', lineChart({ title: 'p99 latency against connections (count=1)', subtitle, xLabel: 'connections (log scale)', yLabel: 'p99 latency, ms (log scale)', yLog: true, series: series((p) => p.p99Ms) })],
  ];
  if (failover && failover.stallsMs.length > 0) {
    const labels = [...STALL_EDGES.map((e, i) => `${i === 0 ? 0 : STALL_EDGES[i - 1]}–${e}`), `> ${STALL_EDGES[STALL_EDGES.length - 1]}`];
    const counts = labels.map(() => 0);
    for (const s of failover.stallsMs) {
      const i = STALL_EDGES.findIndex((e) => s < e);
      const at = i < 0 ? labels.length - 1 : i;
      counts[at] = (counts[at] ?? 0) + 1;
    }
    files.push([
      'failover-stalls.svg',
      barChart({
        title: `Stall per etcd leader kill under load (${failover.kills} kills)`,
        subtitle: `median ${failover.medianStallMs} ms, worst ${failover.worstStallMs} ms; new leader after ${failover.electedMs.join(', ')} ms; ${subtitle}`,
        xLabel: 'stall, ms',
        yLabel: 'kills',
        bars: labels.map((label, i) => ({ label, value: counts[i] ?? 0 })),
      }),
    ]);
  }
  for (const [name, svg] of files) writeFileSync(join(dir, name), svg);
  return files.map(([name]) => join(dir, name));
}

interface Comparable {
  readonly rows: readonly Row[];
  readonly sweep?: readonly SweepPoint[];
  readonly failover?: FailoverResult | null;
}

const pct = (now: number, was: number) => (was > 0 ? `${now >= was ? '+' : ''}${(((now - was) / was) * 100).toFixed(0)} %` : '-');

/** The change of every row and sweep point found in both results, as a printable table. */
export function compareWith(file: string, now: Comparable): string {
  const was = JSON.parse(readFileSync(file, 'utf8')) as Comparable & { at?: string };
  const lines = [`\nchange against ${file} (${was.at ?? 'unknown date'}):`, '', '| scenario | conns | req/s then | req/s now | change | p99 ms then | p99 ms now |', '|---|---:|---:|---:|---:|---:|---:|'];
  const key = (scenario: string, c: number) => `${scenario}@${c}`;
  const old = new Map<string, { rps: number; p99: number }>();
  for (const r of was.rows) old.set(key(r.scenario, r.connections), { rps: r.requestsPerSec, p99: r.latencyMs.p99 });
  for (const p of was.sweep ?? []) old.set(key(`${p.scenario} (sweep)`, p.connections), { rps: p.requestsPerSec, p99: p.p99Ms });
  const current = [
    ...now.rows.map((r) => ({ k: r.scenario, c: r.connections, rps: r.requestsPerSec, p99: r.latencyMs.p99 })),
    ...(now.sweep ?? []).map((p) => ({ k: `${p.scenario} (sweep)`, c: p.connections, rps: p.requestsPerSec, p99: p.p99Ms })),
  ];
  let matched = 0;
  for (const r of current) {
    const o = old.get(key(r.k, r.c));
    if (!o) continue;
    matched++;
    lines.push(`| ${r.k} | ${r.c} | ${o.rps.toLocaleString('en-US')} | ${r.rps.toLocaleString('en-US')} | ${pct(r.rps, o.rps)} | ${o.p99.toFixed(2)} | ${r.p99.toFixed(2)} |`);
  }
  if (matched === 0) lines.push('| (no scenario in common) | | | | | | |');
  if (was.failover && now.failover) {
    lines.push('', `failover: median stall ${was.failover.medianStallMs} → ${now.failover.medianStallMs} ms, worst ${was.failover.worstStallMs} → ${now.failover.worstStallMs} ms`);
  }
  return lines.join('\n');
}
