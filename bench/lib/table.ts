import type { Row, Skipped } from './types.js';
import type { FailoverResult, SweepPoint } from './sweep.js';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * The side-by-side table: every seqd row with its ratio to the no-op ceiling (the first row, and the
 * no-op route of the same server measured just before the row) and to each alternative (numbers/s of seqd over numbers/s of the alternative).
 */
export function printTable(rows: readonly Row[], skipped: readonly Skipped[], memory: { rssMbAfter100k: number; rssMbAfter1M: number } | null): void {
  const alternatives = rows.filter((r) => r.scenario.startsWith('alternative'));
  const short = (r: Row) => r.scenario.replace('alternative: ', '').split(/[ ,(]/)[0] ?? r.scenario;
  const head = ['scenario', 'tool', 'conns', 'req/s', 'numbers/s', 'avg ms', 'p50 ms', 'p99 ms', '× ceiling', '× ceiling just before', ...alternatives.map((a) => `× ${short(a)}`), 'errors'];
  console.log(`\n| ${head.join(' | ')} |`);
  console.log(`|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`);
  for (const r of rows) {
    const seqdRow = !r.scenario.startsWith('alternative') && r.numbersPerSec > 0;
    const cells = [
      r.scenario + (r.note ? ` (${r.note})` : ''),
      r.tool,
      String(r.connections),
      fmt(r.requestsPerSec),
      fmt(r.numbersPerSec),
      r.latencyMs.avg.toFixed(2),
      r.latencyMs.p50.toFixed(2),
      r.latencyMs.p99.toFixed(2),
      r.ratioToCeiling === undefined ? '-' : r.ratioToCeiling.toFixed(2),
      r.ratioToPairedCeiling === undefined ? '-' : `${r.ratioToPairedCeiling.toFixed(2)} (of ${fmt(r.pairedCeilingRps ?? NaN)})`,
      ...alternatives.map((a) => (seqdRow && a.numbersPerSec > 0 ? `${(r.numbersPerSec / a.numbersPerSec).toFixed(1)}` : '-')),
      String(r.errors),
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
  for (const s of skipped) console.log(`not measured: ${s.scenario}: ${s.reason}`);
  if (memory) console.log(`\nmemory: RSS ${memory.rssMbAfter100k} MB after 100,000 allocations, ${memory.rssMbAfter1M} MB after 1,000,000 (${((memory.rssMbAfter1M / memory.rssMbAfter100k - 1) * 100).toFixed(1)} %)`);
}

/** The sweep as one table: a row per scenario, req/s and p99 per connection count. */
export function printSweep(sweep: readonly SweepPoint[]): void {
  const conns = [...new Set(sweep.map((p) => p.connections))].sort((a, b) => a - b);
  const names = [...new Set(sweep.map((p) => p.scenario))];
  console.log(`\nscaling (req/s, p99 ms):\n\n| scenario | ${conns.map((c) => `${c} conns`).join(' | ')} |`);
  console.log(`|---|${conns.map(() => '---:').join('|')}|`);
  for (const name of names) {
    const cells = conns.map((c) => {
      const p = sweep.find((x) => x.scenario === name && x.connections === c);
      return p ? `${fmt(p.requestsPerSec)} (${p.p99Ms.toFixed(1)})${p.errors > 0 ? ` ${p.errors} err` : ''}` : '-';
    });
    console.log(`| ${name} | ${cells.join(' | ')} |`);
  }
}

export function printFailover(f: FailoverResult): void {
  console.log(
    `\nfailover: ${f.kills} leader kills, stalls ${f.stallsMs.join(', ')} ms (new leader after ${f.electedMs.join(', ')} ms): median ${f.medianStallMs} ms, worst ${f.worstStallMs} ms; ` +
      `${f.requests} keyed requests, ${f.failedKeys} never succeeded, ${f.duplicates} numbers given to two keys`,
  );
}
