import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pageOfSeries, type SeriesStatus } from '../../src/domain/series-page.js';

const s = (name: string, status: SeriesStatus = 'open') => ({ name, status });
// Locale order would put "site-10" and "site.2" differently from code-unit order.
const ALL = [s('site.2'), s('site-10', 'closed'), s('global'), s('site-1', 'archived'), s('site-2', 'closed')];

describe('pageOfSeries', () => {
  it('without a selection: every series, by code-unit order, one page', () => {
    assert.deepEqual(pageOfSeries(ALL), { series: [s('global'), s('site-1', 'archived'), s('site-10', 'closed'), s('site-2', 'closed'), s('site.2')], count: 5, truncated: false, nextCursor: null });
  });

  it('filters by status and counts what matched, not what the page holds', () => {
    const p = pageOfSeries(ALL, { status: 'closed', limit: 1 });
    assert.deepEqual([p.series.map((x) => x.name), p.count, p.truncated, p.nextCursor], [['site-10'], 2, true, 'site-10']);
  });

  it('walking the pages by nextCursor yields every matching series once, in order', () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const p = pageOfSeries(ALL, { limit: 2, cursor });
      seen.push(...p.series.map((x) => x.name));
      if (!p.truncated) break;
      assert.ok(p.nextCursor);
      cursor = p.nextCursor;
    }
    assert.deepEqual(seen, ['global', 'site-1', 'site-10', 'site-2', 'site.2']);
  });

  it('a cursor that names no series still splits the listing where that name would sort', () => {
    assert.deepEqual(pageOfSeries(ALL, { cursor: 'site-1x' }).series.map((x) => x.name), ['site-2', 'site.2']);
    assert.deepEqual(pageOfSeries(ALL, { cursor: 'zzz' }), { series: [], count: 5, truncated: false, nextCursor: null });
  });
});
