import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface Summary {
  name: string;
  status: 'open' | 'closed';
  highWaterMark: number;
  nextNumber: number | null;
}

const holder = { siteId: 'site-1', partitionId: 'partition-a' };
const MIDNIGHT = Date.parse('2027-01-01T00:00:00.000Z');

// Issue 13 (minor): a series closed by the rollover still showed the `nextNumber` it will never give.
describe('a closed series shows no next number', () => {
  let clock = MIDNIGHT - 60_000;
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ sequence: { series: { rollover: { enabled: true, 'time-zone': 'UTC', 'close-after-seconds': 60 } } } }, undefined, { now: () => clock });
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 3 });
    clock = MIDNIGHT + 61_000;
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    assert.deepEqual(await s.rollover?.tick(), ['global@2026']);
  });
  after(async () => s.dispose());

  it('in the series list, the stats and the series report: null when closed, HWM + 1 when open', async () => {
    const list = await http<{ series: Summary[] }>(s.url, 'GET', '/api/v1/sequence/series');
    const stats = await http<{ series: Summary[] }>(s.url, 'GET', '/api/v1/sequence/stats');
    for (const series of [list.body.series, stats.body.series]) {
      const byName = new Map(series.map((x) => [x.name, x]));
      assert.deepEqual(byName.get('global@2026'), { ...byName.get('global@2026'), status: 'closed', highWaterMark: 3, nextNumber: null });
      assert.deepEqual(byName.get('global@2027'), { ...byName.get('global@2027'), status: 'open', highWaterMark: 1, nextNumber: 2 });
    }
    const report = await http<Summary>(s.url, 'GET', '/api/v1/sequence/series/global@2026');
    assert.deepEqual([report.body.status, report.body.nextNumber], ['closed', null]);
  });
});
