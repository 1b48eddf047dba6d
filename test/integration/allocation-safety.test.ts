import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { SeqdClient } from '../../src/client/index.js';
import { SeqdApiError } from '../../src/client/seqd-api-error.js';
import { checkHistory, type HistoryOp, type TrailEvent } from '../helpers/history-checker.js';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

// The schedules of the safety review, over HTTP: a late or repeated release/confirm must never
// touch a number that went to another invoice, and a keyed retry never presents such a number
// as the caller's. On the code before allocation tokens every one of these released or answered
// someone else's number.

const holder = { siteId: 'site-1', partitionId: 'partition-a' };
interface Next {
  sequenceNumber: number;
  numbers: number[];
  refilled: number[];
  allocation: string;
  replayed?: boolean;
}
const take = async (url: string, key?: string) => {
  const r = await http<Next>(url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 1, ...(key ? { requestId: key } : {}) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(r.body.allocation, /^global#\d+(-\d+)?$/);
  return r.body;
};
const verify = async (url: string) => (await http<{ valid: boolean; continuity: { problem: string | null } }>(url, 'GET', '/api/v1/audit/verify')).body;

describe('acts name their allocation (HTTP)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s.dispose());

  it('a retried release after a refill to the same site and partition is refused, and H2 keeps its number', async () => {
    const h1 = await take(s.url);
    const n = h1.sequenceNumber;
    const rel = { sequenceNumber: n, ...holder, reason: 'suppressed-bill', allocation: h1.allocation };
    const first = await http<{ alreadyReleased: boolean; allocation: string }>(s.url, 'POST', '/api/v1/sequence/release', rel);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.alreadyReleased, false);
    // The same release again (its reply was lost, the client retries): done, nothing written.
    const repeat = await http<{ alreadyReleased: boolean; status: string }>(s.url, 'POST', '/api/v1/sequence/release', rel);
    assert.equal(repeat.status, 200);
    assert.equal(repeat.body.alreadyReleased, true);
    const h2 = await take(s.url);
    assert.equal(h2.sequenceNumber, n, 'H2 refilled the gap');
    // H1's retry arrives after the refill: it must not release H2's number; it is H1's own
    // earlier release, so it is answered done.
    const late = await http<{ alreadyReleased: boolean; reason: string; allocation: string }>(s.url, 'POST', '/api/v1/sequence/release', rel);
    assert.equal(late.status, 200, JSON.stringify(late.body));
    assert.deepEqual([late.body.alreadyReleased, late.body.reason, late.body.allocation], [true, 'suppressed-bill', h1.allocation]);
    const h3 = await take(s.url);
    assert.notEqual(h3.sequenceNumber, n, 'nobody else got the number H2 holds');
    const confirm = await http<{ alreadyConfirmed: boolean }>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder, allocation: h2.allocation });
    assert.equal(confirm.status, 200);
    assert.equal(confirm.body.alreadyConfirmed, false, "H2's confirm is the first one");
    assert.equal((await verify(s.url)).valid, true);
  });

  it('a keyed retry after the number was released and refilled is refused, naming what happened', async () => {
    const k = await take(s.url, 'order-77');
    const n = k.sequenceNumber;
    await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, ...holder, reason: 'cancelled', allocation: k.allocation });
    const h2 = await take(s.url);
    assert.equal(h2.sequenceNumber, n);
    const retry = await http<ErrorBody & { error: { held: number[]; changed: { sequenceNumber: number; status: string }[] } }>(
      s.url,
      'POST',
      '/api/v1/sequence/next',
      { ...holder, invoiceType: 'on-cycle', count: 1, requestId: 'order-77' },
    );
    assert.equal(retry.status, 409, JSON.stringify(retry.body));
    assert.equal(retry.body.error.code, 'REPLAYED_NUMBERS_CHANGED');
    assert.deepEqual(retry.body.error.held, []);
    assert.deepEqual(retry.body.error.changed, [{ sequenceNumber: n, status: 'reassigned', reason: null }]);
  });

  it('refuses a malformed allocation or one of another series with 400, changing nothing', async () => {
    const h = await take(s.url);
    for (const allocation of ['global', 'global#0', 'global#5-3', '#4', 'global#x']) {
      const r = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: h.sequenceNumber, ...holder, reason: 'x', allocation });
      assert.equal(r.status, 400, allocation);
      assert.equal(r.body.error.field, 'allocation');
    }
    const other = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: h.sequenceNumber, ...holder, reason: 'x', series: 'global', allocation: 'site-9@2026#1' });
    assert.equal(other.status, 400);
    const gaps = await http<{ openGaps: number }>(s.url, 'GET', '/api/v1/sequence/gaps');
    assert.equal(gaps.body.openGaps, 0);
  });

  it('the client SDK passes the allocation: a repeated release is done, also after a refill, and never touches the new holder', async () => {
    const client = new SeqdClient({ urls: [s.url] });
    const got = await client.next({ ...holder, invoiceType: 'on-cycle' });
    assert.ok(got.allocation);
    const params = { sequenceNumber: got.sequenceNumber, ...holder, reason: 'cancelled', allocation: got.allocation };
    assert.equal((await client.release(params)).alreadyReleased, false);
    assert.equal((await client.release(params)).alreadyReleased, true);
    const h2 = await client.next({ ...holder, invoiceType: 'on-cycle' });
    assert.equal(h2.sequenceNumber, got.sequenceNumber);
    assert.equal((await client.release(params)).alreadyReleased, true);
    // The new holder's confirm is the first one: the late release did not touch it.
    assert.equal((await client.confirm({ sequenceNumber: h2.sequenceNumber, ...holder, allocation: h2.allocation })).alreadyConfirmed, false);
    // The late holder's confirm is refused: the number is not its own any more.
    await assert.rejects(client.confirm({ sequenceNumber: got.sequenceNumber, ...holder, allocation: got.allocation }), (e: unknown) => e instanceof SeqdApiError && e.code === 'NUMBER_REASSIGNED' && e.status === 409);
  });
});

describe('acts name their allocation: expiry, then a refill, then the late holder', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ sequence: { core: { 'reservation-timeout-seconds': 1 } } });
  });
  after(async () => s.dispose());

  it("H1's late confirm after its number expired and was refilled is refused; H2 confirms its own", async () => {
    const h1 = await take(s.url);
    const n = h1.sequenceNumber;
    // Bounded wait for the sweeper to expire it.
    for (let i = 0; i < 100; i++) {
      const gaps = await http<{ gaps: { sequenceNumber: number; reason: string }[] }>(s.url, 'GET', '/api/v1/sequence/gaps?status=open');
      if (gaps.body.gaps.some((g) => g.sequenceNumber === n && g.reason === 'expired')) break;
      await sleep(100);
    }
    const h2 = await take(s.url);
    assert.equal(h2.sequenceNumber, n, 'H2 refilled the expired number');
    const late = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder, allocation: h1.allocation });
    assert.equal(late.status, 409);
    assert.equal(late.body.error.code, 'NUMBER_REASSIGNED');
    const own = await http<{ alreadyConfirmed: boolean }>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder, allocation: h2.allocation });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal(own.body.alreadyConfirmed, false);
    assert.equal((await verify(s.url)).valid, true);
  });
});

describe('the history checker catches the unsafe schedule when the allocation is left out', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s.dispose());

  it("a retried release without its allocation releases H2's number, and the checker says so", async () => {
    const ops: HistoryOp[] = [];
    let t = 0;
    const took = async (client: number) => {
      const start = ++t;
      const r = await take(s.url, `h${client}`);
      ops.push({ kind: 'next', client, key: `h${client}`, start, end: ++t, outcome: 'ok', numbers: r.numbers, allocation: r.allocation, refilled: r.refilled });
      return r;
    };
    const h1 = await took(1);
    // H1's release, sent the seed way (no allocation): its reply is lost, the client retries.
    const release = { sequenceNumber: h1.sequenceNumber, ...holder, reason: 'cancelled' };
    const first = ++t;
    await http(s.url, 'POST', '/api/v1/sequence/release', release);
    ops.push({ kind: 'release', client: 1, start: first, end: ++t, outcome: 'unknown', numbers: [h1.sequenceNumber], allocation: h1.allocation });
    await took(2); // refills the number
    const retry = ++t;
    const again = await http(s.url, 'POST', '/api/v1/sequence/release', release);
    assert.equal(again.status, 200, 'without the allocation the seed API releases whoever holds it now');
    ops.push({ kind: 'release', client: 1, start: retry, end: ++t, outcome: 'ok', numbers: [h1.sequenceNumber], allocation: h1.allocation });
    await took(3);
    const trail = (await http<{ events: TrailEvent[] }>(s.url, 'GET', '/api/v1/audit?order=asc&limit=1000')).body.events;
    const problems = checkHistory(ops, trail).join('\n');
    assert.match(problems, /number 1 of allocation 3 was released \(cancelled\) though its holder never asked/, problems);
    assert.doesNotMatch(problems, /real-time order/, 'refills are not held to counter order');
  });
});

describe('numbers recorded before allocations were tracked', () => {
  it('are confirmed and released without naming an allocation, and the trail stays valid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-legacy-'));
    try {
      let s = await startTestServer({}, dir);
      const first = await take(s.url);
      await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: first.sequenceNumber, ...holder, reason: 'cancelled' });
      const refill = await take(s.url);
      const spare = await take(s.url);
      await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: spare.sequenceNumber, ...holder, reason: 'cancelled' });
      await s.close();
      // As a store written before this version: no allocation on number rows.
      const db = new Database(join(dir, 'seqd.sqlite'));
      db.prepare('UPDATE numbers SET grant_seq = 0').run();
      db.close();
      s = await startTestServer({}, dir);
      const confirm = await http<{ allocation?: string }>(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: refill.sequenceNumber, ...holder });
      assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
      assert.equal(confirm.body.allocation, undefined, 'no allocation is known for it');
      const taken = await take(s.url); // refills the spare gap, whose release named no allocation
      assert.equal(taken.sequenceNumber, spare.sequenceNumber);
      const rel = await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: taken.sequenceNumber, ...holder, reason: 'x', allocation: taken.allocation });
      assert.equal(rel.status, 200);
      assert.equal((await verify(s.url)).valid, true);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
