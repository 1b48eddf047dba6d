import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SeqdClient, type VerifyResult as Verify } from '../../src/client/seqd-client.js';
import { hashEvent } from '../../src/domain/audit-chain.js';
import { SQLITE_FILE } from '../../src/storage/sqlite/sqlite-store.js';
import { runCli as cli } from '../helpers/cli.js';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

interface Next {
  numbers: number[];
  series: string;
}

const A = { siteId: 'site-1', partitionId: 'partition-a' } as const;
const B = { siteId: 'site-2', partitionId: 'partition-b' } as const;

async function ok<T>(reply: Promise<{ status: number; body: T }>): Promise<T> {
  const r = await reply;
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

const next = (url: string, holder: { siteId: string; partitionId: string }, invoiceType: string, count: number, key?: string) =>
  ok(http<Next>(url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType, count }, key ? { 'idempotency-key': key } : {}));
const release = (url: string, n: number, holder: { siteId: string; partitionId: string }, reason: string, series?: string) =>
  ok(http(url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, ...holder, reason, ...(series ? { series } : {}) }));
const confirm = (url: string, n: number, holder: { siteId: string; partitionId: string }, series?: string) =>
  ok(http(url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder, ...(series ? { series } : {}) }));
const verify = (url: string, query = '') => http<Verify>(url, 'GET', `/api/v1/audit/verify${query}`);

/**
 * Every kind of write in series `global`: releases, a refill, a confirmed refilled number, a
 * suppressed invoice refilled by a keyed request, keyed requests. Leaves 1 and 3 confirmed (3
 * refilled to B), 9 refilled, 7 an open gap; keys k-1 (5, 6), k-2 (9, 10) and k-3 (11, 12). The
 * last event confirms 11.
 */
async function history(url: string): Promise<void> {
  assert.deepEqual((await next(url, A, 'on-cycle', 2)).numbers, [1, 2]);
  await next(url, A, 'on-cycle', 2);
  assert.deepEqual((await next(url, B, 'off-cycle', 2, 'k-1')).numbers, [5, 6]);
  await next(url, A, 'on-cycle', 2);
  await release(url, 3, A, 'x');
  await confirm(url, 1, A);
  assert.deepEqual((await next(url, B, 'on-cycle', 1)).numbers, [3], 'refills 3');
  await confirm(url, 3, B);
  assert.deepEqual((await next(url, A, 'suppressed', 1)).numbers, [9]);
  assert.deepEqual((await next(url, A, 'on-cycle', 2, 'k-2')).numbers, [9, 10], 'refills the suppressed 9');
  assert.deepEqual((await next(url, A, 'on-cycle', 2, 'k-3')).numbers, [11, 12]);
  await release(url, 7, A, 'y');
  await confirm(url, 11, A);
}

/** Runs `fn` on a fresh server (see `startTestServer`), disposed afterwards. */
async function withServer<T>(fn: (s: TestServer) => Promise<T>, overrides: Record<string, unknown> = {}, options: { now?: () => number } = {}): Promise<T> {
  const s = await startTestServer(overrides, undefined, options);
  try {
    return await fn(s);
  } finally {
    await s.dispose();
  }
}

/** A server with {@link history}, verified clean; `tamper` edits its SQLite file; then verify again (`query`). */
async function tamperAndVerify(tamper: (db: Database.Database, s: TestServer) => unknown, query = ''): Promise<{ before: Verify; after: Verify }> {
  return withServer(async (s) => {
    await history(s.url);
    const before = (await verify(s.url)).body;
    assert.equal(before.valid, true, JSON.stringify(before));
    assert.deepEqual([before.derived.valid, before.derived.problems], [true, []]);
    const db = new Database(join(s.dataDir, SQLITE_FILE));
    try {
      await tamper(db, s);
    } finally {
      db.close();
    }
    const q = query.replace('{head}', before.head ? `${before.head.seq}:${before.head.hash}` : '');
    return { before, after: (await verify(s.url, q)).body };
  });
}

/** Invalid through the derived tables only (the chain is intact), with a problem matching `pattern`. */
function assertDerivedInvalid(r: Verify, pattern: RegExp): void {
  assert.equal(r.valid, false, JSON.stringify(r));
  assert.equal(r.firstInvalidEvent, null);
  assert.equal(r.derived.valid, false);
  assert.ok(r.derived.problems.some((p) => pattern.test(p)), `${pattern} in ${JSON.stringify(r.derived.problems)}`);
  assert.equal(r.derived.problemCount >= r.derived.problems.length, true);
}

describe('audit verify recomputes the derived tables (SQLite)', () => {
  it('a clean store with every kind of write verifies valid and answers its head', async () => {
    await withServer(async (s) => {
    await history(s.url);
    const r = (await verify(s.url, '?series=global')).body;
    assert.equal(r.valid, true, JSON.stringify(r));
    assert.equal(r.derived.checked, true);
    assert.deepEqual(r.derived.problems, []);
    assert.equal(r.derived.numbersChecked, 5, '1, 3, 7, 9 and 11');
    assert.equal(r.derived.totalsChecked, 4);
    assert.equal(r.derived.requestsChecked, 3);
    assert.equal(r.head?.seq, r.eventsChecked);
    assert.match(r.head?.hash ?? '', /^[0-9a-f]{64}$/);
    assert.equal(r.savedHead, null);
    const withHead = (await verify(s.url, `?series=global&head=${r.head?.seq}:${r.head?.hash}`)).body;
    assert.deepEqual([withHead.valid, withHead.savedHead?.valid, withHead.savedHead?.problem], [true, true, null]);
    const client = new SeqdClient({ urls: [s.url] });
    const viaClient = await client.verify({ series: 'global', head: r.head ?? undefined });
    assert.deepEqual([viaClient.valid, viaClient.savedHead?.valid, viaClient.derived.valid], [true, true, true]);
    });
  });

  it('a clean store across a rollover (close voids the open gaps, a late release is void at once) verifies valid', async () => {
    let clock = Date.parse('2026-12-31T23:59:00Z');
    const rollover = { sequence: { series: { rollover: { enabled: true, 'time-zone': 'UTC', 'close-after-seconds': 60 } } } };
    await withServer(async (s) => {
    assert.deepEqual((await next(s.url, A, 'on-cycle', 3, 'r-1')).series, 'global@2026');
    await next(s.url, B, 'off-cycle', 2);
    await release(s.url, 2, A, 'cancelled');
    await confirm(s.url, 1, A);
    assert.deepEqual((await next(s.url, B, 'suppressed', 1)).numbers, [2], 'refills 2 and gives it back');
    assert.deepEqual((await next(s.url, A, 'on-cycle', 2, 'r-2')).numbers, [2, 6]);
    await release(s.url, 4, B, 'left open: voided by the close');
    clock = Date.parse('2027-01-01T00:01:01Z');
    assert.deepEqual((await next(s.url, A, 'on-cycle', 1, 'r-3')).series, 'global@2027');
    assert.deepEqual(await s.rollover?.tick(), ['global@2026']);
    const late = await ok(http<{ status: string }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 5, ...B, series: 'global@2026', reason: 'late' }));
    assert.equal(late.status, 'void');
    const closed = (await verify(s.url, '?period=2026')).body;
    assert.equal(closed.valid, true, JSON.stringify(closed));
    // 1 confirmed, 2 refilled, 4 void by the close, 5 void at once.
    assert.deepEqual([closed.derived.numbersChecked, closed.derived.requestsChecked], [4, 2]);
    const all = (await verify(s.url)).body;
    assert.equal(all.valid, true, JSON.stringify(all));
    assert.deepEqual(all.reports?.map((r) => [r.series, r.valid, r.derived.requestsChecked]), [
      ['_settings', true, 0],
      ['global@2026', true, 2],
      ['global@2027', true, 1],
    ]);
    }, rollover, { now: () => clock });
  });

  it('a clean store under the chronological policy (voids at once) verifies valid', async () => {
    await withServer(async (s) => {
    await next(s.url, A, 'on-cycle', 3);
    await next(s.url, A, 'on-cycle', 2, 'c-1');
    await release(s.url, 2, A, 'held below 5: void at once');
    await release(s.url, 5, A, 'the top one: an open gap');
    await next(s.url, B, 'suppressed', 2, 'c-2');
    const r = (await verify(s.url)).body;
    assert.equal(r.valid, true, JSON.stringify(r));
    assert.ok(r.derived.numbersChecked >= 2);
    }, { sequence: { core: { 'gap-policy': 'chronological' } } });
  });

  it('commits landing between the replay and the reads of the derived tables are not reported', async () => {
    await withServer(async (s) => {
    await history(s.url);
    // The store answers verify's reads of totals and numbers only after more commits landed.
    const store = s.service.store;
    const { totals, listNumbers } = store;
    let first = true;
    store.totals = async (series) => {
      assert.deepEqual((await next(s.url, A, 'on-cycle', 2, 'late-1')).numbers, [7, 13], 'refills the open gap 7');
      await release(s.url, 12, A, 'late');
      return totals.call(store, series);
    };
    store.listNumbers = async (q) => {
      if (first) {
        first = false;
        await release(s.url, 13, A, 'late');
        assert.deepEqual((await next(s.url, B, 'on-cycle', 1)).numbers, [12]);
        await confirm(s.url, 12, B);
      }
      return listNumbers.call(store, q);
    };
    const r = (await verify(s.url, '?series=global')).body;
    store.totals = totals;
    store.listNumbers = listNumbers;
    assert.equal(r.valid, true, JSON.stringify(r.derived));
    const again = (await verify(s.url, '?series=global')).body;
    assert.deepEqual([again.valid, again.eventsChecked > r.eventsChecked], [true, true], JSON.stringify(again.derived));
    });
  });

  it('stays valid while requests commit during the verify (no false alarm)', async () => {
    await withServer(async (s) => {
    await history(s.url);
    let stop = false;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const r = await next(s.url, w % 2 ? A : B, w === 3 ? 'suppressed' : 'on-cycle', 1 + (i % 3), i % 2 ? `w${w}-${i}` : undefined);
        const n = r.numbers[0] ?? 0;
        if (w === 0) await release(s.url, n, B, 'churn');
        if (w === 1) await confirm(s.url, n, A);
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    const reports: Verify[] = [];
    try {
      for (let i = 0; i < 12; i++) reports.push((await verify(s.url, '?series=global')).body);
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    for (const r of reports) assert.equal(r.valid, true, JSON.stringify({ continuity: r.continuity, derived: r.derived }));
    assert.ok((reports[reports.length - 1]?.eventsChecked ?? 0) > (reports[0]?.eventsChecked ?? 0), 'commits landed while verifying');
    });
  });
});

describe('audit verify reports edits of the derived tables (SQLite)', () => {
  it('numbers.site_id of an open gap edited', async () => {
    const { after } = await tamperAndVerify((db) => db.prepare("UPDATE numbers SET site_id = 'site-2' WHERE series = 'global' AND number = 7").run());
    assertDerivedInvalid(after, /^number 7: siteId "site-2" stored, "site-1" by the trail$/);
  });

  it('status and holder edited for a confirmed number and a refilled one: both reported', async () => {
    const { after } = await tamperAndVerify((db) => {
      db.prepare("UPDATE numbers SET status = 'refilled', partition_id = 'partition-a' WHERE series = 'global' AND number = 3").run();
      db.prepare("UPDATE numbers SET site_id = 'site-2', invoice_type = 'off-cycle' WHERE series = 'global' AND number = 9").run();
    });
    assertDerivedInvalid(after, /^number 3: status "refilled" stored, "confirmed" by the trail; partitionId "partition-a" stored, "partition-b" by the trail$/);
    assertDerivedInvalid(after, /^number 9: siteId "site-2" stored.*invoiceType "off-cycle" stored, "on-cycle" by the trail$/);
    assert.equal(after.derived.problemCount, 2);
  });

  it('a number record the trail does not explain, and one deleted', async () => {
    const { after } = await tamperAndVerify((db) => {
      db.prepare("INSERT INTO numbers (series, number, status, site_id, partition_id, invoice_type, reason, changed_at) VALUES ('global', 2, 'void', 'site-1', 'partition-a', 'on-cycle', 'x', 0)").run();
      db.prepare("DELETE FROM numbers WHERE series = 'global' AND number = 1").run();
    });
    assertDerivedInvalid(after, /^number 2 is stored as void but the trail leaves it held/);
    assertDerivedInvalid(after, /^number 1 is confirmed by the trail .* but has no stored record$/);
  });

  it('totals edited', async () => {
    const { after } = await tamperAndVerify((db) =>
      db.prepare("UPDATE totals SET issued = issued + 3 WHERE series = 'global' AND site_id = 'site-1' AND partition_id = 'partition-a' AND invoice_type = 'on-cycle'").run(),
    );
    assertDerivedInvalid(after, /^totals of site-1\/partition-a\/on-cycle: issued 13 stored, 10 by the trail$/);
  });

  it('an idempotency record edited (a retry would get other numbers)', async () => {
    const { after } = await tamperAndVerify((db) => {
      const row = db.prepare<[], { record: string }>("SELECT record FROM requests WHERE key = 'k-1'").get();
      assert.ok(row);
      const record = JSON.parse(row.record) as { n: [number, number][] };
      record.n = [[1, 2]];
      db.prepare("UPDATE requests SET record = ? WHERE key = 'k-1'").run(JSON.stringify(record));
    });
    assertDerivedInvalid(after, /^idempotency key "k-1" \(events \d+-\d+\): numbers \[1-2\] stored, \[5-6\] by the trail$/);
  });

  it('an idempotency record inside the window deleted (a retry would allocate again)', async () => {
    const { after } = await tamperAndVerify((db) => db.prepare("DELETE FROM requests WHERE key = 'k-2'").run());
    assertDerivedInvalid(after, /^idempotency key "k-2" .*has no stored record inside the idempotency window/);
  });

  it('the tail deleted and the series head rewritten to the earlier last event: the number records give it away', async () => {
    const { before, after } = await tamperAndVerify((db) => truncate(db, 1));
    assert.equal(after.eventsChecked, before.eventsChecked - 1);
    assert.deepEqual([after.firstInvalidEvent, after.continuity.valid], [null, true], 'the stored state was rewritten to match the shorter trail');
    assertDerivedInvalid(after, /^number 11 is stored as confirmed but the trail leaves it held/);
  });

  it('a truncation that also rewrites the derived tables passes without a saved head, and is found with it', async () => {
    const thorough = (db: Database.Database) => {
      truncate(db, 1);
      // What the deleted confirm of 11 had written elsewhere, undone too.
      db.prepare("DELETE FROM numbers WHERE series = 'global' AND number = 11").run();
    };
    const blind = await tamperAndVerify(thorough);
    assert.equal(blind.after.valid, true, 'nothing left to contradict the shorter trail: only a saved head can tell');
    const { before, after } = await tamperAndVerify(thorough, '?series=global&head={head}');
    assert.equal(after.valid, false);
    assert.deepEqual(after.derived.problems, []);
    assert.deepEqual(after.savedHead, {
      seq: before.head?.seq,
      hash: before.head?.hash,
      valid: false,
      problem: `trail truncated: event ${before.head?.seq} saved by the caller is missing`,
    });
  });

  it('the last event rewritten with a fresh hash (the state to match) is found only with the saved head', async () => {
    const rewrite = async (db: Database.Database, s: TestServer) => {
      const state = await s.service.store.loadSeries('global', 1);
      const [last] = await s.service.store.readEvents('global', state.eventSeq - 1, 1);
      assert.ok(last);
      const hash = hashEvent({ ...last, node: 'elsewhere' });
      db.prepare("UPDATE events SET node = 'elsewhere', hash = ? WHERE series = 'global' AND seq = ?").run(hash, last.seq);
      db.prepare("UPDATE series SET last_hash = ? WHERE name = 'global'").run(hash);
    };
    const blind = await tamperAndVerify(rewrite);
    assert.equal(blind.after.valid, true, 'a rewritten history that is consistent in itself');
    const { before, after } = await tamperAndVerify(rewrite, '?series=global&head={head}');
    assert.deepEqual([after.valid, after.savedHead?.problem], [false, `event ${before.head?.seq}'s hash differs from the saved one: history rewritten`]);
  });

  it('seqd audit verify --head exits 1 naming the truncation, and prints the head to save', async () => {
    await withServer(async (s) => {
    await history(s.url);
    const clean = await cli(['audit', 'verify', '--url', s.url, '--series', 'global']);
    assert.equal(clean.code, 0, clean.stderr);
    const head = /; head (\d+:[0-9a-f]{64})$/m.exec(clean.stdout)?.[1];
    assert.ok(head, clean.stdout);
    const noSeries = await cli(['audit', 'verify', '--url', s.url, '--head', head]);
    assert.equal(noSeries.code, 2, noSeries.stdout + noSeries.stderr);
    const db = new Database(join(s.dataDir, SQLITE_FILE));
    try {
      truncate(db, 1);
    } finally {
      db.close();
    }
    const r = await cli(['audit', 'verify', '--url', s.url, '--series', 'global', '--head', head]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^INVALID: series global: /);
    assert.match(r.stdout, /saved head: trail truncated: event \d+ saved by the caller is missing/);
    assert.match(r.stdout, /derived tables: \d+ disagreement\(s\) with the trail\n {2}- /);
    });
  });
});

describe('audit verify ?head= input', () => {
  it('refuses a malformed head, a head without series, and still refuses unknown parameters', async () => {
    await withServer(async (s) => {
    await next(s.url, A, 'on-cycle', 1);
    const hash = 'a'.repeat(64);
    for (const bad of ['57', `x:${hash}`, `5:${hash.slice(1)}`, `5:${'A'.repeat(64)}`, `5:${hash}&head=6:${hash}`]) {
      const r = await http<ErrorBody>(s.url, 'GET', `/api/v1/audit/verify?series=global&head=${bad}`);
      assert.deepEqual([r.status, r.body.error.code, r.body.error.field], [400, 'VALIDATION_ERROR', 'head'], bad);
    }
    const noSeries = await http<ErrorBody>(s.url, 'GET', `/api/v1/audit/verify?head=1:${hash}`);
    assert.deepEqual([noSeries.status, noSeries.body.error.field], [400, 'series']);
    assert.match(noSeries.body.error.message, /head needs series/);
    const unknown = await http<ErrorBody>(s.url, 'GET', `/api/v1/audit/verify?heads=1:${hash}`);
    assert.deepEqual([unknown.status, unknown.body.error.field], [400, 'heads']);
    assert.ok(unknown.body.error.allowed?.includes('head'));
    const future = (await verify(s.url, `?series=global&head=99:${hash}`)).body;
    assert.deepEqual([future.valid, future.savedHead?.problem], [false, 'trail truncated: event 99 saved by the caller is missing']);
    const all = (await verify(s.url)).body;
    assert.equal(all.valid, true);
    assert.ok(all.reports?.every((r) => r.derived.valid && r.head !== null));
    });
  });
});

/** Deletes the last `count` events of `global` and rewrites its head (seq, hash, HWM) to the event before them. */
function truncate(db: Database.Database, count: number): void {
  const { event_seq: seq } = db.prepare<[], { event_seq: number }>("SELECT event_seq FROM series WHERE name = 'global'").get() ?? { event_seq: 0 };
  const keep = seq - count;
  db.prepare("DELETE FROM events WHERE series = 'global' AND seq > ?").run(keep);
  const hwm = db.prepare<[], { hwm: number | null }>("SELECT max(last) AS hwm FROM events WHERE series = 'global' AND type = 'issue'").get()?.hwm ?? 0;
  db.prepare("UPDATE series SET event_seq = ?, last_hash = (SELECT hash FROM events WHERE series = 'global' AND seq = ?), hwm = ? WHERE name = 'global'").run(keep, keep, hwm);
}
