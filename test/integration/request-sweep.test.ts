import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, mock } from 'node:test';
import Database from 'better-sqlite3';
import { backupLines } from '../../src/backup/backup-writer.js';
import { planBatch, type PlanContext } from '../../src/domain/planner.js';
import { configure, SqliteCommitter } from '../../src/storage/sqlite/sqlite-committer.js';
import { SQLITE_FILE, SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';

const dirs: string[] = [];
after(() => {
  mock.restoreAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ctx = (batchId: string, now: number): PlanContext => ({ batchId, node: 'test', now, gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
const allocate = { kind: 'allocate', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 } as const;

describe('idempotency records are swept by the time of the records, not only by the clock of whoever commits', () => {
  it('keeps every record still within the window when a process with a clock a day ahead commits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-sweep-'));
    dirs.push(dir);
    const store = new SqliteStore({ dataDir: dir });
    const real = Date.now();
    // k-old: 23.5 h old, still answered; k-lead: stamped 55 min ahead (a series' clock may lead by up to an hour).
    await commitKeyed(store, 'global', 'k-old', real - 23.5 * 3600_000);
    await commitKeyed(store, 'lead', 'k-lead', real + 55 * 60_000);
    const other = await store.loadSeries('other', 1);
    await store.close();

    // An admin command on a machine whose clock is 25 hours ahead commits to the same file.
    const ahead = real + 25 * 3600_000;
    mock.method(Date, 'now', () => ahead);
    const db = configure(new Database(join(dir, SQLITE_FILE)));
    try {
      const plan = planBatch(other, [allocate], new Map(), ctx('b-2', ahead));
      assert.ok(plan.commit);
      const [outcome] = new SqliteCommitter(db, 24 * 3600_000).commitAll([plan.commit]);
      assert.equal(outcome?.status, 'committed');
      const kept = db.prepare<[], { key: string }>('SELECT key FROM requests ORDER BY key').all();
      assert.deepEqual(
        kept.map((r) => r.key),
        ['k-lead', 'k-old'],
        'both records are within the window for every instance: a retry must still find them',
      );
    } finally {
      db.close();
      mock.restoreAll();
    }
  });

  it('copies a record still within the window into a backup taken on a machine a day ahead', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-sweep-'));
    dirs.push(dir);
    const store = new SqliteStore({ dataDir: dir });
    try {
      const real = Date.now();
      await commitKeyed(store, 'global', 'k-1', real - 2 * 3600_000);
      // seqd migrate on that machine first switches maintenance on: an event stamped by its clock.
      const tool = planBatch(await store.loadSeries('global', 1), [allocate], new Map(), ctx('b-tool', real + 25 * 3600_000));
      assert.ok(tool.commit);
      assert.equal((await store.commit(tool.commit)).status, 'committed');
      const lines: string[] = [];
      const snapshot = await store.openSnapshot();
      try {
        for await (const line of backupLines({ snapshot, kind: 'sqlite', requestWindowMs: 24 * 3600_000, now: () => Date.now() + 25 * 3600_000 })) lines.push(line);
      } finally {
        await snapshot.close();
      }
      const records = lines.map((l) => JSON.parse(l) as { t: string; records?: { key: string }[] }).filter((l) => l.t === 'requests');
      assert.deepEqual(records.flatMap((l) => l.records?.map((r) => r.key) ?? []), ['k-1']);
    } finally {
      await store.close();
    }
  });
});

async function commitKeyed(store: SqliteStore, series: string, requestId: string, at: number): Promise<void> {
  const plan = planBatch(await store.loadSeries(series, 1), [{ ...allocate, requestId }], new Map(), ctx(`b-${requestId}`, at));
  assert.ok(plan.commit);
  assert.equal((await store.commit(plan.commit)).status, 'committed');
}
