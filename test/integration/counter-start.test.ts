import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StoreUnavailableError } from '../../src/domain/errors/store-unavailable-error.js';
import type { SequenceStore } from '../../src/storage/sequence-store.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

// Split by type: the off-cycle series does not exist until its first number (the default one does).
const holder = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'off-cycle' };

/**
 * `global-counter-start` keeps a store's numbers clear of those an older system printed. When the
 * first allocation's load of a new series failed, the series was already taken to exist, and a
 * read of it (gaps, series report) created it at 1: 1, 2, ... followed. Reads now create nothing
 * there, and any load (reads included) creates a missing series at the configured start.
 */
describe('global-counter-start holds for a series first touched by a read', () => {
  let server: TestServer;
  let down = false;
  let failedSeries: string | null = null;
  const flaky = (store: SequenceStore): SequenceStore =>
    new Proxy(store, {
      get(target, prop) {
        if (prop === 'loadSeries') {
          return (series: string, start: number) => {
            if (down && !series.startsWith('_')) {
              failedSeries = series;
              return Promise.reject(new StoreUnavailableError('test: the store is down'));
            }
            return target.loadSeries(series, start);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  before(async () => {
    server = await startTestServer({ sequence: { core: { 'global-counter-start': 1000 }, series: { 'split-by': ['invoice-type'] } } }, undefined, { wrapStore: flaky });
  });
  after(async () => server?.dispose());

  it('the first number is the configured start after a failed first load and a read of the series', async () => {
    down = true;
    const failed = await http(server.url, 'POST', '/api/v1/sequence/next', holder);
    down = false;
    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    assert.ok(failedSeries, 'the allocation tried to load its series');
    for (const path of [`/api/v1/sequence/gaps?series=${failedSeries}`, `/api/v1/sequence/series/${failedSeries}`]) {
      const read = await http(server.url, 'GET', path);
      // Nothing was created by the failed load: the read says so, and creates nothing either.
      assert.equal(read.status, 404, `${path}: ${JSON.stringify(read.body)}`);
    }
    const next = await http<{ numbers: number[] }>(server.url, 'POST', '/api/v1/sequence/next', holder);
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.deepEqual(next.body.numbers, [1000]);
  });
});

/**
 * The default series exists from the first start. An operator who starts seqd once, then sets
 * `global-counter-start` (an older system printed the numbers below it) before any number was
 * issued, expects the first number at that start, not at the one the empty series was created at.
 */
describe('global-counter-start set after the first start, before any number', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-counter-start-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const body = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };

  it('an empty series begins at the configured start; one that issued keeps its own', async () => {
    await (await startTestServer({}, dir)).close();
    const moved = await startTestServer({ sequence: { core: { 'global-counter-start': 1000 } } }, dir);
    try {
      assert.deepEqual((await http<{ numbers: number[] }>(moved.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [1000]);
      const report = await http<{ start: number }>(moved.url, 'GET', '/api/v1/sequence/series/global');
      assert.equal(report.body.start, 1000);
      const verify = await http<{ valid: boolean }>(moved.url, 'GET', '/api/v1/audit/verify?series=global');
      assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
    } finally {
      await moved.close();
    }
    // Once it issued, the start is the series' own: moving it now is refused.
    await assert.rejects(startTestServer({ sequence: { core: { 'global-counter-start': 5000 } } }, dir), /a running series cannot be moved/);
  });

  it('an empty series below the start is moved up when it is first used: after maintenance, or created by an instance with a lower start', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'seqd-counter-late-'));
    const split = { 'split-by': ['invoice-type'] };
    try {
      const a = await startTestServer({ sequence: { series: split } }, fresh);
      assert.equal((await http(a.url, 'POST', '/api/v1/admin/maintenance', { enabled: true, reason: 'restore drill' })).status, 200);
      await a.close();
      const b = await startTestServer({ sequence: { core: { 'global-counter-start': 1000 }, series: split } }, fresh);
      try {
        assert.equal((await http(b.url, 'POST', '/api/v1/admin/maintenance', { enabled: false, reason: 'checked' })).status, 200);
        assert.deepEqual((await http<{ numbers: number[] }>(b.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [1000]);
        // Another instance, configured with the default start, creates a series by a read meanwhile.
        const other = new SqliteStore({ dataDir: fresh });
        try {
          assert.equal((await other.loadSeries('off-cycle', 1)).start, 1);
        } finally {
          await other.close();
        }
        const late = await http<{ series: string; numbers: number[] }>(b.url, 'POST', '/api/v1/sequence/next', { ...body, invoiceType: 'off-cycle' });
        assert.deepEqual([late.body.series, late.body.numbers], ['off-cycle', [1000]]);
      } finally {
        await b.close();
      }
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('never moves an empty series down: a lower start (another configuration, the key dropped) keeps the older numbers clear', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'seqd-counter-down-'));
    try {
      await (await startTestServer({ sequence: { core: { 'global-counter-start': 1000 } } }, fresh)).close();
      const lower = await startTestServer({}, fresh);
      try {
        assert.deepEqual((await http<{ numbers: number[] }>(lower.url, 'POST', '/api/v1/sequence/next', body)).body.numbers, [1000]);
      } finally {
        await lower.close();
      }
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});
