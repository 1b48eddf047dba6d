import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  controlSeries,
  nextPeriod,
  nextPeriodStart,
  previousPeriod,
  parseSeriesName,
  periodEnded,
  periodOf,
  seriesFor,
  seriesKeyOf,
  type SeriesStrategy,
} from '../../src/domain/series-strategy.js';

const key = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
const paris = { period: 'yearly', timeZone: 'Europe/Paris' } as const;

describe('series strategy', () => {
  it('names one global series by default and joins the split dimensions in order', () => {
    assert.equal(seriesFor({ splitBy: [], rollover: null }, key, 0), 'global');
    assert.equal(seriesFor({ splitBy: ['site'], rollover: null }, key, 0), 'site-1');
    assert.equal(seriesFor({ splitBy: ['site', 'partition', 'invoice-type'], rollover: null }, key, 0), 'site-1:partition-a:on-cycle');
    assert.equal(seriesFor({ splitBy: ['invoice-type'], rollover: null }, key, 0), 'on-cycle');
  });

  it('rolls over at midnight of the configured time zone, not of UTC', () => {
    const s: SeriesStrategy = { splitBy: [], rollover: paris };
    // 23:59:59.999 in Paris on 31 December is 22:59:59.999 UTC.
    assert.equal(seriesFor(s, key, Date.parse('2026-12-31T22:59:59.999Z')), 'global@2026');
    assert.equal(seriesFor(s, key, Date.parse('2026-12-31T23:00:00.000Z')), 'global@2027');
    const utc: SeriesStrategy = { splitBy: ['site'], rollover: { period: 'yearly', timeZone: 'UTC' } };
    assert.equal(seriesFor(utc, key, Date.parse('2026-12-31T23:30:00Z')), 'site-1@2026');
  });

  it('monthly periods sort as strings and say when a period has ended', () => {
    const monthly = { period: 'monthly', timeZone: 'America/New_York' } as const;
    assert.equal(periodOf(monthly, Date.parse('2026-10-01T03:59:59Z')), '2026-09');
    assert.equal(periodOf(monthly, Date.parse('2026-10-01T04:00:00Z')), '2026-10');
    assert.equal(periodEnded(monthly, '2026-09', Date.parse('2026-10-01T04:00:00Z')), true);
    assert.equal(periodEnded(monthly, '2026-10', Date.parse('2026-10-01T04:00:00Z')), false);
    assert.equal(periodEnded(paris, '2026', Date.parse('2027-01-01T00:00:00Z')), true);
  });

  it('parses names and keeps settings in the global trail only for the plain strategy', () => {
    assert.deepEqual(parseSeriesName('site-1:partition-a@2026'), { base: 'site-1:partition-a', period: '2026' });
    assert.deepEqual(parseSeriesName('global'), { base: 'global', period: null });
    assert.equal(controlSeries({ splitBy: [], rollover: null }), 'global');
    assert.equal(controlSeries({ splitBy: [], rollover: paris }), '_settings');
    assert.equal(controlSeries({ splitBy: ['site'], rollover: null }), '_settings');
  });
});

describe('period arithmetic', () => {
  it('finds when the next period starts, in the time zone', () => {
    assert.equal(nextPeriodStart(paris, Date.parse('2026-12-31T22:59:00Z')), Date.parse('2026-12-31T23:00:00Z'));
    assert.equal(nextPeriodStart(paris, Date.parse('2026-03-01T10:00:00Z')), Date.parse('2026-12-31T23:00:00Z'));
    const monthly = { period: 'monthly', timeZone: 'UTC' } as const;
    assert.equal(nextPeriodStart(monthly, Date.parse('2027-02-10T00:00:00Z')), Date.parse('2027-03-01T00:00:00Z'));
  });

  it('steps back over years and months', () => {
    assert.deepEqual(['2027', '2027-01', '2026-10'].map(previousPeriod), ['2026', '2026-12', '2026-09']);
  });

  it('steps years and months', () => {
    assert.equal(nextPeriod('2026'), '2027');
    assert.equal(nextPeriod('2026-09'), '2026-10');
    assert.equal(nextPeriod('2026-12'), '2027-01');
  });

  it('reads the values back out of a series name: the inverse of seriesFor', () => {
    const strategy: SeriesStrategy = { splitBy: ['site', 'invoice-type'], rollover: paris };
    const name = seriesFor(strategy, key, Date.parse('2026-06-01T00:00:00Z'));
    assert.deepEqual(seriesKeyOf(strategy, name), [
      { field: 'siteId', value: 'site-1' },
      { field: 'invoiceType', value: 'on-cycle' },
    ]);
    assert.equal(seriesKeyOf(strategy, 'global@2026'), null, 'another number of parts: not of this split');
    assert.equal(seriesKeyOf({ splitBy: [], rollover: null }, 'global'), null, 'nothing to read without a split');
  });
});
