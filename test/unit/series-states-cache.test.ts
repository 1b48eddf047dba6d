import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GENESIS_HASH } from '../../src/domain/audit-chain.js';
import type { SeriesState } from '../../src/domain/types.js';
import { SeriesStatesCache } from '../../src/service/series-states-cache.js';
import type { TotalsRow } from '../../src/storage/sequence-store.js';

/** A store of series in memory that counts its reads (the cache's logic only: no I/O here). */
class CountingStore {
  readonly rows = new Map<string, { version: number; closed: boolean }>();
  loads: string[] = [];
  inFlight = 0;
  mostInFlight = 0;
  totalsReads: string[] = [];
  failTotals = false;

  set(name: string, version: number, closed: boolean): void {
    this.rows.set(name, { version, closed });
  }

  async seriesVersions(): Promise<Map<string, string>> {
    return new Map([...this.rows].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, r]) => [n, String(r.version)]));
  }

  async loadSeries(series: string, start: number): Promise<SeriesState> {
    this.loads.push(series);
    this.mostInFlight = Math.max(this.mostInFlight, ++this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    const r = this.rows.get(series) ?? { version: 0, closed: false };
    return {
      series,
      start,
      hwm: r.version,
      version: String(r.version),
      eventSeq: r.version,
      lastHash: GENESIS_HASH,
      openGaps: [],
      counters: { issued: r.version, refilled: 0, released: 0, voided: 0 },
      closedAt: r.closed ? 1 : null,
      lastEventAt: 0,
      archived: null,
    };
  }

  async totals(series: string): Promise<TotalsRow[]> {
    this.totalsReads.push(series);
    this.mostInFlight = Math.max(this.mostInFlight, ++this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    if (this.failTotals) throw new Error('store unavailable');
    return [{ siteId: series, partitionId: 'p', invoiceType: 'on-cycle', issued: this.rows.get(series)?.version ?? 0, refilled: 0, released: 0 }];
  }
}

function setup() {
  const store = new CountingStore();
  store.set('site-1@2024', 5, true);
  store.set('site-1@2025', 7, true);
  store.set('site-1@2026', 3, false);
  store.set('_internal', 1, false);
  return { store, cache: new SeriesStatesCache(store, 1) };
}

describe('SeriesStatesCache: a series is loaded again only when its version changes', () => {
  it('loads each series once while its version stays, and a changed one again; internal ones never', async () => {
    const { store, cache } = setup();
    const first = await cache.states();
    assert.deepEqual(first.map((s) => s.series), ['site-1@2024', 'site-1@2025', 'site-1@2026']);
    assert.deepEqual(store.loads.sort(), ['site-1@2024', 'site-1@2025', 'site-1@2026']);
    store.loads = [];
    const generation = cache.closedGeneration;
    const second = await cache.states();
    assert.deepEqual(store.loads, []);
    assert.deepEqual(second.map((s) => s.hwm), [5, 7, 3]);
    store.set('site-1@2026', 4, false);
    const third = await cache.states();
    assert.deepEqual(store.loads, ['site-1@2026']);
    assert.deepEqual(third.map((s) => s.hwm), [5, 7, 4]);
    assert.equal(cache.closedGeneration, generation, 'nothing closed changed');
    store.set('site-1@2026', 5, true);
    await cache.states();
    assert.ok(cache.closedGeneration > generation, 'a series closing is a change of the closed ones');
    assert.equal(cache.isKnownClosed('site-1@2026'), true);
  });

  it('loads a closed series again when the store lists it at another version (an archive)', async () => {
    const { store, cache } = setup();
    await cache.states();
    store.set('site-1@2024', 6, true);
    store.set('site-1@2025', 8, false);
    store.loads = [];
    const generation = cache.closedGeneration;
    const states = await cache.states();
    assert.ok(cache.closedGeneration > generation, 'readers of closed series are told');
    assert.deepEqual(store.loads.sort(), ['site-1@2024', 'site-1@2025']);
    assert.deepEqual(states.map((s) => [s.hwm, s.closedAt !== null]), [[6, true], [8, false], [3, false]]);
    store.loads = [];
    await cache.states();
    assert.deepEqual(store.loads, []);
    assert.deepEqual([cache.isKnownClosed('site-1@2024'), cache.isKnownClosed('site-1@2025')], [true, false]);
    // Only a closed series made open (a store restored under a running instance): still told.
    store.set('site-1@2024', 7, false);
    const before = cache.closedGeneration;
    await cache.states();
    assert.ok(cache.closedGeneration > before);
  });

  it('forgets a series the store no longer lists, and loads it afresh when it comes back at its old version', async () => {
    const { store, cache } = setup();
    await cache.states();
    store.rows.delete('site-1@2024');
    const generation = cache.closedGeneration;
    assert.deepEqual((await cache.states()).map((s) => s.series), ['site-1@2025', 'site-1@2026']);
    assert.ok(cache.closedGeneration > generation);
    store.set('site-1@2024', 5, true);
    store.loads = [];
    await cache.states();
    assert.deepEqual(store.loads, ['site-1@2024']);
  });

  it('reads the totals of a kept series once; a changed one and a failed read again', async () => {
    const { store, cache } = setup();
    let states = await cache.states();
    await cache.totals(states);
    await cache.totals(states);
    assert.deepEqual(store.totalsReads.sort(), ['site-1@2024', 'site-1@2025', 'site-1@2026']);
    store.totalsReads = [];
    store.set('site-1@2025', 9, true);
    states = await cache.states();
    const rows = await cache.totals(states);
    assert.deepEqual(store.totalsReads, ['site-1@2025']);
    assert.deepEqual(rows.map((r) => r.issued), [5, 9, 3]);
    store.totalsReads = [];
    store.set('site-1@2024', 10, true);
    states = await cache.states();
    store.failTotals = true;
    await assert.rejects(cache.totals(states));
    store.failTotals = false;
    store.totalsReads = [];
    assert.deepEqual((await cache.totals(states)).map((r) => r.issued), [10, 9, 3]);
    assert.deepEqual(store.totalsReads, ['site-1@2024'], 'the failed read was not kept');
  });

  it('loads at most 16 series (and reads at most 16 totals) at once, answering in name order', async () => {
    const store = new CountingStore();
    for (let i = 0; i < 200; i++) store.set(`s-${String(i).padStart(3, '0')}`, i, i % 2 === 0);
    const cache = new SeriesStatesCache(store, 1);
    const states = await cache.states();
    assert.deepEqual(states.map((s) => s.hwm), [...Array(200).keys()]);
    assert.equal(store.loads.length, 200);
    assert.ok(store.mostInFlight > 1 && store.mostInFlight <= 16, `${store.mostInFlight} loads at once`);
    store.mostInFlight = 0;
    const rows = await cache.totals(states);
    assert.deepEqual(rows.map((r) => r.issued), [...Array(200).keys()]);
    assert.ok(store.mostInFlight > 1 && store.mostInFlight <= 16, `${store.mostInFlight} totals reads at once`);
  });
});
