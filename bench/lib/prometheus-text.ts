/** Samples of one Prometheus text exposition: name, labels, value. */
export type Scrape = readonly { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }[];

export async function scrape(url: string): Promise<Scrape> {
  const text = await (await fetch(url)).text();
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m?.[1] || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) if (l[1]) labels[l[1]] = l[2] ?? '';
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples called `name` whose labels include `labels`. */
export function metricSum(s: Scrape, name: string, labels: Readonly<Record<string, string>> = {}): number {
  return s.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);
}

/** Mean of a histogram between two scrapes (NaN when nothing was observed in between). */
export function histogramMean(after: Scrape, name: string, labels: Readonly<Record<string, string>>, before: Scrape): number {
  const count = metricSum(after, `${name}_count`, labels) - metricSum(before, `${name}_count`, labels);
  const sum = metricSum(after, `${name}_sum`, labels) - metricSum(before, `${name}_sum`, labels);
  return count > 0 ? sum / count : NaN;
}
