import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SeriesFormat } from '../../src/domain/format-uniqueness.js';
import { seriesValuesOf, type NumberFormat } from '../../src/domain/number-format.js';
import { DEFAULT_FORMAT, formatOf, type NumberingProfile } from '../../src/domain/numbering-profile.js';
import { printedAgainProblem, printedFormats, type IssuedSeries } from '../../src/domain/printed-frames.js';
import type { SeriesStrategy } from '../../src/domain/series-strategy.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const inv: NumberFormat = { prefix: 'INV', year: true, padding: 6, separator: '-', timeZone: 'UTC' };
const fmt = (prefix: string, more: Partial<NumberFormat> = {}): NumberFormat => ({ ...inv, prefix, ...more });
const GLOBAL: SeriesStrategy = { splitBy: [], rollover: null };
const BY_SITE: SeriesStrategy = { splitBy: ['site'], rollover: null };
const YEARLY: SeriesStrategy = { splitBy: ['site'], rollover: { period: 'yearly', timeZone: 'UTC' } };
const profile = (strategy: SeriesStrategy, fallback: NumberFormat | null, own: Record<string, NumberFormat> = {}): NumberingProfile => ({
  strategy,
  formats: { ...(fallback ? { [DEFAULT_FORMAT]: fallback } : {}), ...own },
});

/** The configured series of `current` for `bases`, as the config loader lists them. */
function configured(current: NumberingProfile, bases: string[]): SeriesFormat[] {
  return bases.flatMap((base) => {
    const format = formatOf(current, base);
    const key = current.formats[base] ? `sequence.series.formats.${base}` : 'sequence.format';
    return format ? [{ base, values: seriesValuesOf(current.strategy.splitBy, base), key, format }] : [];
  });
}

type Issued = Omit<IssuedSeries, 'lastEventAt'> & { lastEventAt?: number };

/** The problem of moving a store with `history` (stored profile last) to `current` with `bases`, at `now`. */
function check(history: NumberingProfile[], current: NumberingProfile, bases: string[], issued: Issued[], now = NOW, windowMs = 0): string | null {
  const printed = printedFormats(history, current, new Set(bases), issued.map((i) => ({ lastEventAt: null, ...i })), now);
  return printedAgainProblem(configured(current, bases), printed, now - windowMs, current.strategy.rollover?.timeZone ?? null)?.message ?? null;
}

describe('no configured series prints what a stored series printed', () => {
  it('a renamed site whose format does not print the site is refused; with the site printed it is taken', () => {
    const p = profile(BY_SITE, inv);
    assert.match(check([p], p, ['site-9'], [{ series: 'site-1', hwm: 3 }]) ?? '', /"site-9" would print numbers such as "INV-2026-000001" that series "site-1" of this store already printed \(up to number 3/);
    assert.match(check([p], p, ['site-9'], [{ series: 'site-1', hwm: 3 }]) ?? '', /put \{site\} in sequence\.format\.prefix/);
    const withSite = profile(BY_SITE, fmt('INV-{site}'));
    assert.equal(check([withSite], withSite, ['site-9'], [{ series: 'site-1', hwm: 3 }]), null);
  });

  it('a global series split by site under the same prefix, and a series that starts to roll over, are refused', () => {
    assert.match(check([profile(GLOBAL, inv)], profile(BY_SITE, inv), ['site-1'], [{ series: 'global', hwm: 8 }]) ?? '', /"site-1" would print .*"global"/);
    assert.match(check([profile(BY_SITE, inv)], profile(YEARLY, inv), ['site-1'], [{ series: 'site-1', hwm: 8 }]) ?? '', /"site-1" would print .*series "site-1" of this store/);
  });

  it('remembers every profile: a frame printed two numberings ago stays taken', () => {
    // global printed INV-…; then split by site with INV-{site}; now back to INV for site-1 (scenario A),
    // or a new site-2 with INV of its own (scenario B).
    const p0 = profile(GLOBAL, inv);
    const p1 = profile(BY_SITE, fmt('INV-{site}'));
    const issued = [
      { series: 'global', hwm: 5 },
      { series: 'site-1', hwm: 1 },
    ];
    assert.match(check([p0, p1], profile(BY_SITE, inv), ['site-1'], issued) ?? '', /"site-1" would print .*"global"/);
    assert.match(check([p0, p1], profile(BY_SITE, fmt('INV-{site}'), { 'site-2': inv }), ['site-1', 'site-2'], issued) ?? '', /"site-2" would print .*"global"/);
    // With only the latest profile (the store forgot), neither is seen: the history is what catches them.
    assert.equal(check([p1], profile(BY_SITE, inv), ['site-1'], issued), null);
  });

  it('a series numbered further under a new format keeps its old frame from the others (scenario E)', () => {
    const before = profile(BY_SITE, inv);
    const after = profile(BY_SITE, fmt('INV-{site}'), { 'site-2': inv });
    assert.match(check([before], after, ['site-1', 'site-2'], [{ series: 'site-1', hwm: 3 }]) ?? '', /"site-2" would print .*"site-1" of this store already printed .*before its format changed/);
    // Its own frame, numbered on, is no collision with itself.
    assert.equal(check([before], profile(BY_SITE, fmt('INV', { padding: 8 })), ['site-1'], [{ series: 'site-1', hwm: 3 }]), null);
  });

  it('periods that ended, and stored series among themselves, are not compared with what numbers on', () => {
    const p = profile(YEARLY, fmt('INV-{site}'));
    const issued = [
      { series: 'site-1@2025', hwm: 9 },
      { series: 'old-a@2024', hwm: 4 },
      { series: 'old-b@2024', hwm: 4 },
    ];
    assert.equal(check([p], p, ['site-1'], issued), null);
    assert.deepEqual(
      printedFormats([p], p, new Set(['site-1']), issued.map((i) => ({ ...i, lastEventAt: null })), NOW).map((e) => e.series),
      ['old-a@2024', 'old-b@2024'],
    );
  });

  it('a rolling series printed its own period only: a site renamed at the turn of the year is taken', () => {
    const p = profile(YEARLY, inv);
    assert.equal(check([p], p, ['site-one'], [{ series: 'site-1@2025', hwm: 40 }]), null, 'site-one prints 2026 on, site-1 printed 2025');
    assert.match(check([p], p, ['site-one'], [{ series: 'site-1@2026', hwm: 40 }]) ?? '', /"INV-2026-000001"/);
  });

  it('a monthly series printed its month only: a site renamed in December is taken while November is stored', () => {
    const monthly: SeriesStrategy = { splitBy: ['site'], rollover: { period: 'monthly', timeZone: 'UTC' } };
    const p = profile(monthly, fmt('INV-{yyyy}{mm}', { year: false }));
    assert.equal(check([p], p, ['site-one'], [{ series: 'site-1@2026-11', hwm: 7 }]), null);
    assert.match(check([p], p, ['site-one'], [{ series: 'site-1@2026-12', hwm: 7 }]) ?? '', /"INV-202612-000001"/);
  });

  it('on the first morning of a year in UTC, last year is over: a yearly site renamed then is taken', () => {
    const p = profile(YEARLY, inv);
    const newYear = Date.parse('2027-01-01T10:00:00Z');
    assert.equal(check([p], p, ['site-one'], [{ series: 'site-1@2026', hwm: 40 }], newYear), null);
    // In the hour after midnight an instance whose clock is late may still print 2026.
    assert.match(check([p], p, ['site-one'], [{ series: 'site-1@2026', hwm: 40 }], Date.parse('2027-01-01T00:30:00Z')) ?? '', /"INV-2026-000001"/);
    // A request retried within the idempotency window is answered again as formatted at its commit: 2026.
    assert.match(check([p], p, ['site-one'], [{ series: 'site-1@2026', hwm: 40 }], newYear, 86_400_000) ?? '', /"INV-2026-000001"/);
  });

  it('a series that did not roll over printed no year after its last event', () => {
    const old = profile(GLOBAL, fmt('INV'));
    const sites = profile(BY_SITE, fmt('INV-{site}', { year: false }));
    const lastIn2026 = { series: 'global', hwm: 5, lastEventAt: Date.parse('2026-06-01T00:00:00Z') };
    assert.equal(check([old], sites, ['2027'], [lastIn2026], Date.parse('2027-03-01T00:00:00Z')), null);
    assert.match(check([old], sites, ['2026'], [lastIn2026], Date.parse('2027-03-01T00:00:00Z')) ?? '', /"2026" would print/);
    // A store from before the last event's time was kept stores 0: its series may have printed up to now.
    const unknown = { series: 'global', hwm: 5, lastEventAt: 0 };
    assert.match(check([old], sites, ['2027'], [unknown], Date.parse('2027-03-01T00:00:00Z')) ?? '', /"2027" would print/);
  });

  it('frames that run into the number are compared as text', () => {
    // INV2026 + 000001 can never read INV-site-1-…; INV2026 + … and INV + 2026… can.
    const old = profile(GLOBAL, fmt('INV', { separator: '' }));
    assert.equal(check([old], profile(BY_SITE, fmt('INV-{site}')), ['site-1'], [{ series: 'global', hwm: 5 }]), null);
    const noYear = profile(BY_SITE, fmt('INV', { year: false, separator: '' }));
    assert.match(check([old], noYear, ['site-1'], [{ series: 'global', hwm: 5 }]) ?? '', /runs into the number/);
  });

  it('a site id of digits is no year: INV-1001- was never printed by a series that prints its year', () => {
    const old = profile(GLOBAL, fmt('INV'));
    const sites = profile(BY_SITE, fmt('INV-{site}', { year: false }));
    assert.equal(check([old], sites, ['1001', '1999'], [{ series: 'global', hwm: 5 }]), null);
    assert.match(check([old], sites, ['2025'], [{ series: 'global', hwm: 5 }]) ?? '', /"2025" would print/);
  });

  it('a series the store cannot tell has issued is taken as printed, named without a number', () => {
    const p = profile(BY_SITE, inv);
    assert.match(check([p], p, ['site-9'], [{ series: 'site-1', hwm: null }]) ?? '', /already printed \(after the frame/);
  });
});
