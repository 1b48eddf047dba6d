/**
 * Small, dependency-free SVG charts for the bench: lines over a log-scale x axis (connections)
 * and a bar histogram (failover stalls). Plain SVG 1.1 text, readable in a browser and on a
 * repository page.
 */

export interface LineSeries {
  readonly name: string;
  /** [x, y] pairs; x > 0 (log scale). Points with a non-finite y are left out. */
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChart {
  readonly title: string;
  /** A smaller second line under the title (date, tool, seconds per point). */
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  /** A log-scale y axis (for figures spanning decades, like p99 latency). */
  readonly yLog?: boolean;
}

export interface BarChart {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly bars: readonly { readonly label: string; readonly value: number }[];
}

const W = 760;
const H = 440;
const M = { left: 78, right: 250, top: 56, bottom: 58 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v: number) => (v >= 1e6 ? `${+(v / 1e6).toFixed(1)}M` : v >= 1e4 ? `${+(v / 1e3).toFixed(0)}k` : v >= 1e3 ? `${+(v / 1e3).toFixed(1)}k` : `${+v.toPrecision(3)}`);

/** Round tick values covering [0, max]. */
function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 0.999; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function frame(title: string, subtitle: string | undefined, xLabel: string, yLabel: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    ...(subtitle ? [`<text x="${M.left}" y="40" fill="#555">${esc(subtitle)}</text>`] : []),
    `<text x="${M.left + (W - M.left - M.right) / 2}" y="${H - 14}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(18 ${M.top + (H - M.top - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  ];
}

export function lineChart(c: LineChart): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const pts = c.series.flatMap((s) => s.points.filter(([x, y]) => x > 0 && Number.isFinite(y) && (!c.yLog || y > 0)));
  const xs = [...new Set(pts.map(([x]) => x))].sort((a, b) => a - b);
  const xMin = Math.log10(xs[0] ?? 1);
  const xMax = Math.log10(xs[xs.length - 1] ?? 10);
  const X = (x: number) => M.left + (xMax === xMin ? plotW / 2 : ((Math.log10(x) - xMin) / (xMax - xMin)) * plotW);
  const ys = pts.map(([, y]) => y);
  let Y: (y: number) => number;
  let yTicks: number[];
  if (c.yLog) {
    const lo = Math.floor(Math.log10(ys.length > 0 ? Math.min(...ys) : 1));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(ys.length > 0 ? Math.max(...ys) : 10)));
    yTicks = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
    Y = (y) => M.top + plotH - ((Math.log10(y) - lo) / Math.max(1, hi - lo)) * plotH;
  } else {
    yTicks = linearTicks(Math.max(...ys, 0));
    const top = yTicks[yTicks.length - 1] ?? 1;
    Y = (y) => M.top + plotH - (y / top) * plotH;
  }
  const out = frame(c.title, c.subtitle, c.xLabel, c.yLabel);
  for (const t of yTicks) {
    out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${M.left - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const x of xs) {
    out.push(`<line x1="${X(x).toFixed(1)}" x2="${X(x).toFixed(1)}" y1="${M.top}" y2="${M.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${X(x).toFixed(1)}" y="${M.top + plotH + 18}" text-anchor="middle">${fmt(x)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    const own = s.points.filter(([x, y]) => x > 0 && Number.isFinite(y) && (!c.yLog || y > 0)).sort((a, b) => a[0] - b[0]);
    if (own.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${own.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of own) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${color}"><title>${esc(s.name)}: ${fmt(y)} at ${x}</title></circle>`);
    const ly = M.top + 10 + i * 20;
    out.push(`<line x1="${W - M.right + 14}" x2="${W - M.right + 34}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    const label = s.name.length > 34 ? `${s.name.slice(0, 33)}…` : s.name;
    out.push(`<text x="${W - M.right + 40}" y="${ly + 4}" font-size="11">${esc(label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export function barChart(c: BarChart): string {
  const plotW = W - M.left - 40;
  const plotH = H - M.top - M.bottom;
  const ticks = linearTicks(Math.max(...c.bars.map((b) => b.value), 1));
  const top = ticks[ticks.length - 1] ?? 1;
  const Y = (y: number) => M.top + plotH - (y / top) * plotH;
  const slot = plotW / Math.max(1, c.bars.length);
  const out = frame(c.title, c.subtitle, c.xLabel, c.yLabel);
  for (const t of ticks) {
    out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${M.left - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  c.bars.forEach((b, i) => {
    const x = M.left + i * slot;
    out.push(`<rect x="${(x + slot * 0.12).toFixed(1)}" y="${Y(b.value).toFixed(1)}" width="${(slot * 0.76).toFixed(1)}" height="${(M.top + plotH - Y(b.value)).toFixed(1)}" fill="${COLORS[0]}"><title>${esc(b.label)}: ${b.value}</title></rect>`);
    out.push(`<text x="${(x + slot / 2).toFixed(1)}" y="${M.top + plotH + 18}" text-anchor="middle">${esc(b.label)}</text>`);
  });
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
