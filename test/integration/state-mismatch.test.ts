import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SQLITE_FILE } from '../../src/storage/sqlite/sqlite-store.js';
import { http, startTestServer, type ErrorBody } from '../helpers/seqd-server.js';

const NEXT = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A data directory holding numbers 1..12, number 5 held and number 7 released and refilled. */
async function ledger(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-mismatch-'));
  dirs.push(dir);
  const s = await startTestServer({}, dir);
  try {
    for (let i = 0; i < 6; i++) assert.equal((await http(s.url, 'POST', '/api/v1/sequence/next', { ...NEXT, count: 2 })).status, 200);
    const released = await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 7, siteId: 'site-1', partitionId: 'partition-a', reason: 'voided invoice' });
    assert.equal(released.status, 200);
    const refill = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', NEXT);
    assert.deepEqual(refill.body.numbers, [7]);
  } finally {
    await s.close();
  }
  return dir;
}

function tamper(dir: string, sql: string): void {
  const db = new Database(join(dir, SQLITE_FILE));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

async function nextAfterRestart(dir: string) {
  const s = await startTestServer({}, dir);
  const reply = await http<ErrorBody & { numbers?: number[] }>(s.url, 'POST', '/api/v1/sequence/next', NEXT);
  return { s, reply };
}

describe('a series whose stored state contradicts its trail serves nothing', () => {
  it('a high-water mark edited down: 503 SERIES_STATE_MISMATCH instead of 11 and 12 again, an alert metric, and service once repaired', async () => {
    const dir = await ledger();
    tamper(dir, 'UPDATE series SET hwm = 10, issued = issued - 2');
    const { s, reply } = await nextAfterRestart(dir);
    try {
      assert.equal(reply.status, 503, `got ${JSON.stringify(reply.body)}`);
      assert.equal(reply.body.error.code, 'SERIES_STATE_MISMATCH');
      assert.match(reply.body.error.message, /trail issued 11/);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /seqd_series_state_mismatch\{series="[^"]+"\} 1/);
      // Still stopped on the next request (the check is not skipped once it failed).
      assert.equal((await http(s.url, 'POST', '/api/v1/sequence/next', NEXT)).status, 503);
      tamper(dir, 'UPDATE series SET hwm = 12, issued = issued + 2');
      // The repair is seen without a request (checked again every 5 s): the alert clears.
      const deadline = Date.now() + 15_000;
      while (/seqd_series_state_mismatch\{/.test(await (await fetch(`${s.url}/metrics`)).text())) {
        assert.ok(Date.now() < deadline, 'the alert did not clear after the repair');
        await new Promise((r) => setTimeout(r, 250));
      }
      const repaired = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', NEXT);
      assert.equal(repaired.status, 200);
      assert.deepEqual(repaired.body.numbers, [13]);
    } finally {
      await s.close();
    }
  });

  it('a high-water mark edited down alone (counters untouched) is caught too', async () => {
    const dir = await ledger();
    tamper(dir, 'UPDATE series SET hwm = 10');
    const { s, reply } = await nextAfterRestart(dir);
    await s.close();
    assert.equal(reply.body.error.code, 'SERIES_STATE_MISMATCH');
  });

  it('a held number marked open is not refilled to a second invoice', async () => {
    const dir = await ledger();
    tamper(
      dir,
      "INSERT INTO numbers (series, number, status, site_id, partition_id, invoice_type, reason, changed_at, grant_seq) SELECT name, 5, 'open', 'site-1', 'partition-a', 'on-cycle', 'x', 0, 0 FROM series WHERE hwm = 12",
    );
    const { s, reply } = await nextAfterRestart(dir);
    await s.close();
    assert.equal(reply.status, 503, `got ${JSON.stringify(reply.body)}`);
    assert.equal(reply.body.error.code, 'SERIES_STATE_MISMATCH');
  });

  it('a refilled number marked open with the counters adjusted is caught by the trail (its last event is the refill)', async () => {
    const dir = await ledger();
    tamper(dir, "UPDATE numbers SET status = 'open' WHERE number = 7; UPDATE series SET released = released + 1 WHERE hwm = 12");
    const { s, reply } = await nextAfterRestart(dir);
    await s.close();
    assert.equal(reply.body.error.code, 'SERIES_STATE_MISMATCH');
    assert.match(reply.body.error.message, /number 7 .*refill event/);
  });

  it('a forged gap above genuine ones, counters adjusted: each gap is checked against the trail before it is refilled', async () => {
    const dir = await ledger();
    const s0 = await startTestServer({}, dir);
    for (const n of [1, 2, 3, 4]) {
      const r = await http(s0.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, siteId: 'site-1', partitionId: 'partition-a', reason: 'cancelled' });
      assert.equal(r.status, 200);
    }
    await s0.close();
    tamper(
      dir,
      "INSERT INTO numbers (series, number, status, site_id, partition_id, invoice_type, reason, changed_at, grant_seq) SELECT name, 9, 'open', 'site-1', 'partition-a', 'on-cycle', 'x', 0, 0 FROM series WHERE hwm = 12; UPDATE series SET released = released + 1 WHERE hwm = 12",
    );
    const s = await startTestServer({}, dir);
    try {
      const reply = await http<ErrorBody>(s.url, 'POST', '/api/v1/sequence/next', { ...NEXT, count: 5 });
      assert.equal(reply.status, 503, `number 9 went to a second invoice: ${JSON.stringify(reply.body)}`);
      assert.match(reply.body.error.message, /number 9 .*issue event/);
      const audit = await http<{ events: { type: string }[] }>(s.url, 'GET', '/api/v1/audit?event=refill&limit=100');
      assert.equal(audit.body.events.length, 1, 'nothing refilled after the check (only the ledger\'s refill of 7)');
    } finally {
      await s.close();
    }
  });

  it('a head moved back to an earlier event is caught (the trail goes on)', async () => {
    const dir = await ledger();
    tamper(dir, 'UPDATE series SET event_seq = event_seq - 1 WHERE hwm = 12');
    const { s, reply } = await nextAfterRestart(dir);
    await s.close();
    assert.equal(reply.body.error.code, 'SERIES_STATE_MISMATCH');
  });

  it('an untouched ledger serves on', async () => {
    const dir = await ledger();
    const { s, reply } = await nextAfterRestart(dir);
    await s.close();
    assert.deepEqual(reply.body.numbers, [13]);
  });
});
