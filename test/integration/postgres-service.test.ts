import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';

const holder = { siteId: 'site-1', partitionId: 'partition-a' };
const missing = postgresMissing();

// seqd on PostgreSQL (sequence.storage: postgres): two instances on one database, each with its
// own engine, as two SQLite instances on one file; the compare-and-swap in each transaction keeps
// numbers unique and in order.
describe('seqd on PostgreSQL: two instances on one database', { skip: missing ?? false }, () => {
  let pg: TestPostgres;
  let a: TestServer;
  let b: TestServer;
  const overrides = () => ({ sequence: { storage: 'postgres', postgres: { url: pg.url, schema: 'service_test', 'pool-size': 4 } } });
  before(async () => {
    pg = await startTestPostgres();
    a = await startTestServer(overrides());
    b = await startTestServer(overrides());
  });
  after(async () => {
    await a?.dispose();
    await b?.dispose();
    await pg?.dispose();
  });

  it('hands out unique, consecutive numbers to 16 clients on both instances, and the trail verifies', async () => {
    const got: number[] = [];
    let retried = 0;
    // As the SDK: each request carries a key and is sent again on a retryable 503 (with two
    // instances committing one series without forwarding, a load check can find it moving).
    const client = async (id: number, url: string) => {
      for (let i = 0; i < 40; i++) {
        const body = { ...holder, invoiceType: 'on-cycle', count: 1 + (i % 3) };
        for (let attempt = 0; ; attempt++) {
          const r = await http<{ numbers: number[]; error?: { code: string } }>(url, 'POST', '/api/v1/sequence/next', body, { 'idempotency-key': `pg-${id}-${i}` });
          if (r.status === 503 && attempt < 5) {
            retried++;
            continue;
          }
          assert.equal(r.status, 200, JSON.stringify(r.body));
          got.push(...r.body.numbers);
          break;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, i) => client(i, i % 2 ? a.url : b.url)));
    console.log(`# PostgreSQL, two instances: ${got.length} numbers, ${retried} requests re-sent after a retryable 503`);
    const sorted = [...got].sort((x, y) => x - y);
    assert.equal(new Set(sorted).size, sorted.length, 'a number was handed out twice');
    assert.deepEqual(sorted, sorted.map((_, i) => i + 1), 'the numbers have a hole');
    for (const s of [a, b]) {
      const v = await http<{ valid: boolean }>(s.url, 'GET', '/api/v1/audit/verify');
      assert.equal(v.body.valid, true, JSON.stringify(v.body).slice(0, 400));
    }
  });

  it('answers a retried key with the same numbers on the other instance, and refuses the key in another shape', async () => {
    const body = { ...holder, invoiceType: 'off-cycle', count: 3 };
    const first = await http<{ numbers: number[] }>(a.url, 'POST', '/api/v1/sequence/next', body, { 'idempotency-key': 'pg-key-1' });
    const again = await http<{ numbers: number[]; replayed: boolean }>(b.url, 'POST', '/api/v1/sequence/next', body, { 'idempotency-key': 'pg-key-1' });
    assert.deepEqual(again.body.numbers, first.body.numbers);
    assert.equal(again.body.replayed, true);
    const other = await http(b.url, 'POST', '/api/v1/sequence/next', { ...body, count: 2 }, { 'idempotency-key': 'pg-key-1' });
    assert.equal(other.status, 422);
  });

  it('releases, refills and confirms across instances, and keeps everything after a restart of both', async () => {
    const n = (await http<{ numbers: number[] }>(a.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' })).body.numbers[0] ?? 0;
    assert.equal((await http(b.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, ...holder, reason: 'cancelled' })).status, 200);
    const refill = (await http<{ numbers: number[] }>(b.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' })).body.numbers[0];
    assert.equal(refill, n, 'the released number is refilled first');
    assert.equal((await http(a.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder })).status, 200);
    const before = await http<{ highWaterMark: number }>(a.url, 'GET', '/api/v1/sequence/stats');
    await a.close();
    await b.close();
    a = await startTestServer(overrides());
    b = await startTestServer(overrides());
    const after = await http<{ highWaterMark: number }>(b.url, 'GET', '/api/v1/sequence/stats');
    assert.equal(after.body.highWaterMark, before.body.highWaterMark);
    assert.equal((await http(b.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, ...holder, reason: 'x' })).status, 409, 'a confirmed number stays confirmed');
    assert.equal((await http<{ valid: boolean }>(b.url, 'GET', '/api/v1/audit/verify')).body.valid, true);
  });
});
