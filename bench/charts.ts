/**
 * Draws the bench charts again from a results file (default bench/results/latest.json), e.g.
 * after a change of the chart layout:  node --import tsx bench/charts.ts [FILE] [--out docs/bench]
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeCharts, type FailoverResult, type SweepPoint } from './lib/sweep.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({ options: { out: { type: 'string', default: 'docs/bench' } }, allowPositionals: true });
const file = positionals[0] ?? join(ROOT, 'bench', 'results', 'latest.json');
const r = JSON.parse(readFileSync(file, 'utf8')) as { at: string; sweepSeconds?: number; rows: { tool: string }[]; sweep?: SweepPoint[]; failover?: FailoverResult | null };
const tool = r.rows.find((x) => x.tool === 'wrk' || x.tool === 'autocannon')?.tool ?? 'wrk';
const files = writeCharts(join(ROOT, values.out ?? 'docs/bench'), r.sweep ?? [], r.failover ?? null, `${r.at.slice(0, 10)}, ${r.sweepSeconds ?? '?'} s per point, ${tool}`);
console.log(`charts: ${files.join(', ')}`);
