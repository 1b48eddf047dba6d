import { ValidationError } from '../domain/errors/index.js';
import { seriesKeyOf, type SeriesStrategy } from '../domain/series-strategy.js';
import { INVOICE_TYPES } from '../domain/types.js';

/** What a release or confirm says about the number's holder besides the series it names. */
export interface HeldKey {
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType?: string | undefined;
}

/**
 * Refuses (400, naming both) a release or confirm whose site, partition or invoice type
 * contradicts the series it acts in: in `site-1:on-cycle` every number is site-1's and on-cycle,
 * so `invoiceType: off-cycle` there means the caller is confused about which number it holds.
 * A name whose values are not configured ones (a series of an earlier split) is not checked: its
 * parts need not mean what today's split says; the planner still checks the holder.
 */
export function checkHeldSeries(strategy: SeriesStrategy, series: string, req: HeldKey, sites: ReadonlyMap<string, ReadonlySet<string>>): void {
  const key = seriesKeyOf(strategy, series);
  if (!key) return;
  const known = (field: keyof HeldKey, v: string) =>
    field === 'siteId' ? sites.has(v) : field === 'partitionId' ? [...sites.values()].some((p) => p.has(v)) : (INVOICE_TYPES as readonly string[]).includes(v);
  if (!key.every(({ field, value }) => known(field, value))) return;
  for (const { field, value } of key) {
    const given = req[field];
    if (given === undefined || given === value) continue;
    throw new ValidationError(`${field} "${given}" contradicts series "${series}", whose numbers are ${field} "${value}": send the number's own ${field} (or name its series)`, {
      field,
      allowed: [value],
      details: { series },
    });
  }
}
