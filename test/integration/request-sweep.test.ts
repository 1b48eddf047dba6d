import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, mock } from 'node:test';
import Database from 'better-sqlite3';
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
  it('keeps a record still within the window when a process with a clock a day ahead commits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-sweep-'));
    dirs.push(dir);
    const store = new SqliteStore({ dataDir: dir });
    const keyed = planBatch(await store.loadSeries('global', 1), [{ ...allocate, requestId: 'k-1' }], new Map(), ctx('b-1', Date.now()));
    assert.ok(keyed.commit);
    assert.equal((await store.commit(keyed.commit)).status, 'committed');
    const other = await store.loadSeries('other', 1);
    await store.close();

    // An admin command on a machine whose clock is 25 hours ahead commits to the same file.
    const ahead = Date.now() + 25 * 3600_000;
    mock.method(Date, 'now', () => ahead);
    const db = configure(new Database(join(dir, SQLITE_FILE)));
    try {
      const plan = planBatch(other, [allocate], new Map(), ctx('b-2', ahead));
      assert.ok(plan.commit);
      const [outcome] = new SqliteCommitter(db, 24 * 3600_000).commitAll([plan.commit]);
      assert.equal(outcome?.status, 'committed');
      const kept = db.prepare<[], { key: string }>('SELECT key FROM requests').all();
      assert.deepEqual(
        kept.map((r) => r.key),
        ['k-1'],
        'the record of k-1 is 1 s old for every instance: a retry must still find it',
      );
    } finally {
      db.close();
      mock.restoreAll();
    }
  });
});
