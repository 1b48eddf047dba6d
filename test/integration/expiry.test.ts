import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { sample } from '../helpers/prometheus.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

interface AuditPage {
  events: { event: string; first: number; last: number; reason: string | null }[];
  nextCursor: number | null;
}

/** Every event of the trail, oldest first. */
async function trail(url: string): Promise<AuditPage['events']> {
  const out: AuditPage['events'] = [];
  let cursor = 0;
  for (;;) {
    const page = await http<AuditPage>(url, 'GET', `/api/v1/audit?order=asc&limit=1000&cursor=${cursor}`);
    out.push(...page.body.events);
    if (page.body.nextCursor === null) return out;
    cursor = page.body.nextCursor;
  }
}

// Two instances on one SQLite file, both sweeping: every timed-out reservation is released once.
describe('reservation timeout: unconfirmed numbers are released as expired, exactly once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-expiry-'));
  const overrides = { sequence: { core: { 'reservation-timeout-seconds': 1 } } };
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    a = await startTestServer(overrides, dir);
    b = await startTestServer(overrides, dir);
  });
  after(async () => {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('releases what was neither confirmed nor released, once, with reason expired', async () => {
    const holder = { siteId: 'site-1', partitionId: 'partition-a' };
    const got: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await http<{ numbers: number[] }>(i % 2 ? a.url : b.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 1 });
      got.push(...r.body.numbers);
    }
    const confirmed = got.filter((_, i) => i % 3 === 0);
    for (const n of confirmed) await http(a.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder });
    const releasedByClient = got[1] ?? 0;
    await http(b.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: releasedByClient, ...holder, reason: 'cancelled' });
    const shouldExpire = got.filter((n) => !confirmed.includes(n) && n !== releasedByClient);

    // Wait (bounded) until the sweepers have released all of them.
    let expired: number[] = [];
    for (let i = 0; i < 100; i++) {
      expired = (await trail(a.url)).filter((e) => e.event === 'release' && e.reason === 'expired').map((e) => e.first);
      if (expired.length >= shouldExpire.length) break;
      await sleep(100);
    }
    await sleep(1500); // a further sweep of both instances must not release anything again
    const events = await trail(a.url);
    expired = events.filter((e) => e.event === 'release' && e.reason === 'expired').map((e) => e.first);
    assert.deepEqual([...expired].sort((x, y) => x - y), shouldExpire, 'each unconfirmed number expired exactly once');
    const gaps = await http<{ gaps: { sequenceNumber: number; reason: string }[] }>(a.url, 'GET', '/api/v1/sequence/gaps?status=open');
    for (const n of shouldExpire) assert.ok(gaps.body.gaps.some((g) => g.sequenceNumber === n && g.reason === 'expired'));
    const verify = await http<{ valid: boolean }>(b.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true);
  });
});

// After a restart the sweeper starts at the beginning of the trail: a long history of finished
// invoices must not hold back the numbers that are due.
describe('reservation timeout after a restart: one pass crosses a long finished history', () => {
  let s: TestServer;
  before(async () => {
    // The server's own sweeper is off (timeout 0); the test runs one by hand with a 1 s timeout.
    s = await startTestServer();
  });
  after(() => s?.dispose());

  it('releases the one due number among 30,000 released ones in one pass', async () => {
    const holder = { siteId: 'site-1', partitionId: 'partition-a' };
    for (let i = 0; i < 30; i++) {
      const r = await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'suppressed', count: 1000 });
      assert.equal(r.status, 200);
    }
    const due = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'off-cycle' });
    // It refills the lowest suppressed gap (number 1): a refilled number expires like any other.
    const n = due.body.numbers[0] ?? 0;
    assert.equal(n, 1);
    await sleep(1100);
    const { ExpirySweeper } = await import('../../src/service/expiry-sweeper.js');
    const sweeper = new ExpirySweeper({
      store: s.opened.store,
      series: async () => ['global'],
      timeoutMs: 1000,
      release: (series, records, cutoff) => s.service.expire(series, records, cutoff, 1000),
      scanBudgetMs: 60_000,
    });
    assert.equal(await sweeper.sweep(), 1, 'one pass releases it');
    const events = await http<AuditPage>(s.url, 'GET', `/api/v1/audit?number=${n}&limit=5`);
    assert.equal(events.body.events[0]?.reason, 'expired');
  });

  it('a sweeper whose clock runs ahead looks again at a number the series says is not due yet', async () => {
    const holder = { siteId: 'site-1', partitionId: 'partition-b' };
    const taken = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    const n = taken.body.numbers[0] ?? 0;
    const { ExpirySweeper } = await import('../../src/service/expiry-sweeper.js');
    const sweeper = new ExpirySweeper({
      store: s.opened.store,
      series: async () => ['global'],
      timeoutMs: 1000,
      // Five seconds ahead: by this clock the number is due at once; by the series' it is not.
      now: () => Date.now() + 5000,
      release: (series, records, cutoff) => s.service.expire(series, records, cutoff, 1000),
      scanBudgetMs: 60_000,
    });
    assert.equal(await sweeper.sweep(), 0, 'not released early');
    await sleep(1100);
    assert.equal(await sweeper.sweep(), 1, 'released once due: the sweep did not pass it by');
    const events = await http<AuditPage>(s.url, 'GET', `/api/v1/audit?number=${n}&limit=5`);
    assert.deepEqual([events.body.events[0]?.event, events.body.events[0]?.reason], ['release', 'expired']);
  });
});

// The look-ahead behind the SeqdReservationsExpiring alert: numbers that will expire soon unless
// confirmed or released, counted by the sweeper and served as seqd_reservations_expiring.
describe('reservations about to expire: seqd_reservations_expiring', () => {
  const holder = { siteId: 'site-1', partitionId: 'partition-a' };
  let s: TestServer;
  before(async () => {
    // A 10 s timeout: the look-ahead is its half, so numbers are "expiring" from 5 s to 10 s.
    s = await startTestServer({ sequence: { core: { 'reservation-timeout-seconds': 10 } } });
  });
  after(() => s?.dispose());

  it('counts unconfirmed, unreleased numbers due within the look-ahead, at the sweeper level', async () => {
    const got = (await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 5 })).body.numbers;
    await http(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: got[0], ...holder });
    await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: got[1], ...holder, reason: 'cancelled' });
    const { ExpirySweeper } = await import('../../src/service/expiry-sweeper.js');
    const at = (offsetMs: number) =>
      new ExpirySweeper({
        store: s.opened.store,
        series: async () => ['global'],
        timeoutMs: 60_000,
        lookAheadMs: 30_000,
        now: () => Date.now() + offsetMs,
        // Counting only: nothing is due at these offsets.
        release: async () => assert.fail('nothing is due'),
      });
    const soon = at(45_000);
    await soon.sweep();
    assert.equal(soon.expiring.get('global'), 3, 'the 3 numbers neither confirmed nor released');
    const later = at(10_000);
    await later.sweep();
    assert.equal(later.expiring.get('global'), 0, 'not within the look-ahead yet');
  });

  it('serves the count on /metrics while they are due soon, and 0 once they expired', async () => {
    const metric = async () => sample(await (await fetch(`${s.url}/metrics`)).text(), 'seqd_reservations_expiring', { series: 'global' });
    const got = (await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 4 })).body.numbers;
    let seen: number | null = null;
    for (let i = 0; i < 100 && !(seen !== null && seen >= 4); i++) {
      seen = await metric();
      await sleep(100);
    }
    assert.ok(seen !== null && seen >= 4, `seqd_reservations_expiring was ${seen}`);
    for (const n of got) await http(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder });
    // Confirmed numbers never expire; the earlier test's unconfirmed ones do: 0 afterwards.
    for (let i = 0; i < 150 && (await metric()) !== 0; i++) await sleep(100);
    assert.equal(await metric(), 0);
  });
});
