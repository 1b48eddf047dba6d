import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

interface Next {
  numbers: number[];
  requestId?: string;
  replayed?: boolean;
  timestamp: string;
}
const body = (count = 2, siteId = 'site-1') => ({ siteId, partitionId: 'partition-a', invoiceType: 'on-cycle', count });
const hwm = async (url: string) => (await http<{ highWaterMark: number }>(url, 'GET', '/api/v1/sequence/stats')).body.highWaterMark;
const eventCount = async (url: string) => (await http<{ events: unknown[] }>(url, 'GET', '/api/v1/audit?limit=1000')).body.events.length;

describe('idempotent next: Idempotency-Key header or requestId field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-idem-'));
  let s: TestServer;
  // The format is the store's from its first number on (changing it later needs seqd change-numbering).
  const formatted = { sequence: { format: { prefix: 'INV', year: true, padding: 6 } } };
  before(async () => {
    s = await startTestServer(formatted, dir);
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a retry with the same numbers and changes nothing', async () => {
    const first = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', body(), { 'idempotency-key': 'bill-run-7/inv-1' });
    assert.equal(first.status, 200);
    assert.equal(first.body.replayed, false);
    const [h, events] = [await hwm(s.url), await eventCount(s.url)];
    const again = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', body(), { 'idempotency-key': 'bill-run-7/inv-1' });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.numbers, first.body.numbers);
    assert.equal(again.body.replayed, true);
    assert.equal(again.body.timestamp, first.body.timestamp, 'the original commit time');
    // The same key as a body field, and on the GET form, is the same request.
    const asField = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...body(), requestId: 'bill-run-7/inv-1' });
    assert.deepEqual(asField.body.numbers, first.body.numbers);
    const asQuery = await http<Next>(s.url, 'GET', '/api/v1/sequence/next?siteId=site-1&partitionId=partition-a&invoiceType=on-cycle&count=2&requestId=bill-run-7%2Finv-1');
    assert.deepEqual(asQuery.body.numbers, first.body.numbers);
    assert.equal(await hwm(s.url), h);
    assert.equal(await eventCount(s.url), events);
  });

  it('refuses the same key with another body (422) and a conflicting key pair (400), changing nothing', async () => {
    await http(s.url, 'POST', '/api/v1/sequence/next', body(1), { 'idempotency-key': 'k-422' });
    const [h, events] = [await hwm(s.url), await eventCount(s.url)];
    const other = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/next', body(3), { 'idempotency-key': 'k-422' });
    assert.equal(other.status, 422);
    assert.equal(other.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
    const pair = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/next', { ...body(1), requestId: 'x' }, { 'idempotency-key': 'y' });
    assert.equal(pair.status, 400);
    const bad = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/next', body(1), { 'idempotency-key': 'has space' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'Idempotency-Key');
    assert.equal(await hwm(s.url), h);
    assert.equal(await eventCount(s.url), events);
  });

  it('gives concurrent copies of one request the same numbers, allocated once', async () => {
    const h = await hwm(s.url);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        http<Next>(s.url, 'POST', '/api/v1/sequence/next', i % 2 ? body(5) : body(1, 'site-2'), { 'idempotency-key': `burst-${i % 2}` }),
      ),
    );
    for (const r of replies) assert.equal(r.status, 200);
    const odd = new Set(replies.filter((_, i) => i % 2).map((r) => r.body.numbers.join(',')));
    const even = new Set(replies.filter((_, i) => i % 2 === 0).map((r) => r.body.numbers.join(',')));
    assert.equal(odd.size, 1);
    assert.equal(even.size, 1);
    assert.equal(await hwm(s.url), h + 6);
  });

  it('keeps its answers across a restart, and shows the configured format', async () => {
    const first = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', body(), { 'idempotency-key': 'survives' });
    await s.close();
    s = await startTestServer(formatted, dir);
    const again = await http<Next & { formatted: string[] }>(s.url, 'POST', '/api/v1/sequence/next', body(), { 'idempotency-key': 'survives' });
    assert.deepEqual(again.body.numbers, first.body.numbers);
    assert.equal(again.body.replayed, true);
    const year = new Date(first.body.timestamp).getUTCFullYear();
    assert.deepEqual(again.body.formatted, again.body.numbers.map((n) => `INV-${year}-${String(n).padStart(6, '0')}`));
  });
});
