import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SQLITE_FILE } from '../../src/storage/sqlite/sqlite-store.js';
import { http, startTestServer } from '../helpers/seqd-server.js';

interface Verify {
  valid: boolean;
  firstInvalidEvent: { seq: number; problem: string } | null;
  continuity: { valid: boolean; problem: string | null };
}

/** A server with some history, a tampering step done straight in its SQLite file, then verify. */
async function tamperAndVerify(tamper: (db: Database.Database) => void): Promise<Verify> {
  const s = await startTestServer();
  try {
    for (let i = 0; i < 10; i++) {
      await http(s.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 2 });
    }
    await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 4, siteId: 'site-1', partitionId: 'partition-a', reason: 'x' });
    const clean = await http<Verify>(s.url, 'GET', '/api/v1/audit/verify');
    assert.equal(clean.body.valid, true, 'valid before tampering');
    const db = new Database(join(s.dataDir, SQLITE_FILE));
    try {
      tamper(db);
    } finally {
      db.close();
    }
    return (await http<Verify>(s.url, 'GET', '/api/v1/audit/verify')).body;
  } finally {
    await s.dispose();
  }
}

describe('audit verify detects tampering with the stored trail', () => {
  it('an edited event is named (its hash no longer matches)', async () => {
    const r = await tamperAndVerify((db) => db.prepare("UPDATE events SET site_id = 'site-2' WHERE seq = 5").run());
    assert.equal(r.valid, false);
    assert.equal(r.firstInvalidEvent?.seq, 5);
    assert.match(r.firstInvalidEvent?.problem ?? '', /hash/);
  });

  it('an event edited together with its own hash breaks the link of the next one', async () => {
    const r = await tamperAndVerify((db) => db.prepare("UPDATE events SET hash = 'f00d' WHERE seq = 3").run());
    assert.equal(r.valid, false);
    assert.equal(r.firstInvalidEvent?.seq, 3);
  });

  it('a deleted event is found where the sequence breaks', async () => {
    const r = await tamperAndVerify((db) => db.prepare('DELETE FROM events WHERE seq = 7').run());
    assert.equal(r.valid, false);
    assert.equal(r.firstInvalidEvent?.seq, 8);
    assert.match(r.firstInvalidEvent?.problem ?? '', /missing|expected/);
  });

  it('a truncated trail (last events deleted) no longer reaches the stored state', async () => {
    const r = await tamperAndVerify((db) => db.prepare('DELETE FROM events WHERE seq >= 10').run());
    assert.equal(r.valid, false);
    assert.match(r.continuity.problem ?? '', /events missing/);
  });

  it('a moved high-water mark breaks continuity', async () => {
    const r = await tamperAndVerify((db) => db.prepare('UPDATE series SET hwm = hwm + 5').run());
    assert.equal(r.valid, false);
    assert.match(r.continuity.problem ?? '', /high-water mark/);
  });
});

describe('audit verify detects a state set back behind its trail', () => {
  it('a series row restored from an earlier moment (consistent in itself) is reported, not taken for commits during the verify', async () => {
    const s = await startTestServer();
    try {
      const next = () => http(s.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 2 });
      for (let i = 0; i < 3; i++) await next();
      const file = join(s.dataDir, SQLITE_FILE);
      const read = new Database(file, { readonly: true });
      const earlier = read.prepare('SELECT * FROM series WHERE hwm = 6').get() as Record<string, unknown>;
      read.close();
      for (let i = 0; i < 3; i++) await next();
      const db = new Database(file);
      try {
        const cols = Object.keys(earlier);
        db.prepare(`UPDATE series SET ${cols.map((c) => `${c} = @${c}`).join(', ')} WHERE name = @name`).run(earlier);
      } finally {
        db.close();
      }
      const r = (await http<Verify>(s.url, 'GET', '/api/v1/audit/verify')).body;
      assert.equal(r.valid, false);
      assert.match(r.continuity.problem ?? '', /goes on to event 4 .*set back/);
    } finally {
      await s.dispose();
    }
  });
});
