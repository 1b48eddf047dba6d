import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import postgres from 'postgres';
import { after, before, describe, it } from 'node:test';
import { planBatch } from '../../src/domain/planner.js';
import type { Op, SeriesState } from '../../src/domain/types.js';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import { rangeLookupSql } from '../../src/storage/postgres/postgres-schema.js';
import type { SequenceStore } from '../../src/storage/sequence-store.js';
import { RANGE_LOOKUP_SQL } from '../../src/storage/sqlite/sqlite-schema.js';
import { SQLITE_FILE, SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';

const SERIES = 'site-1@2026';
const holder = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' } as const;

/** A legacy import of 100 numbers, then 3,000 issue events (one number each) after it. */
async function writeTrail(store: SequenceStore): Promise<SeriesState> {
  let state = await store.loadSeries(SERIES, 1);
  const batches: Op[][] = [[{ kind: 'import', last: 100, gaps: [], reason: 'legacy export' }], ...Array.from({ length: 3 }, () => Array.from({ length: 1000 }, (): Op => ({ kind: 'allocate', ...holder, count: 1 })))];
  for (const [i, ops] of batches.entries()) {
    const plan = planBatch(state, ops, new Map(), { batchId: `trail-${i}`, node: 'test', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
    assert.ok(plan.commit);
    const r = await store.commit(plan.commit);
    assert.equal(r.status, 'committed');
    state = { ...plan.commit.next, version: r.status === 'committed' ? r.version : '' };
  }
  return state;
}

/** Holders of numbers in the import, at its edges, in the counter, at the HWM and after it. */
async function lookups(store: SequenceStore, state: SeriesState): Promise<void> {
  const numbers = [1, 100, 101, 1500, state.hwm, state.hwm + 1, state.hwm + 50];
  const found = await store.lookupNumbers(SERIES, numbers);
  assert.deepEqual(
    numbers.map((n) => found.get(n)?.siteId ?? null),
    ['legacy', 'legacy', 'site-1', 'site-1', 'site-1', null, null],
  );
}

// Issue 18 (long trails): the number after the HWM, looked up at every load of a series (start,
// resync, conflict), was also searched for in a legacy import range, a walk back through the whole
// trail (1.4 s of a blocked process at a million events). An import only starts a series that
// issued nothing, so the import lookup now runs only below every issue range; and the issue lookup
// must use its partial index (SQLite without statistics picked the index that walks every event).
describe('range lookups: the issue lookup uses its partial index; holders found right around an import', () => {
  it('SQLite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-lookups-'));
    try {
      const store = new SqliteStore({ dataDir: dir });
      await lookups(store, await writeTrail(store));
      await store.close();
      const db = new Database(join(dir, SQLITE_FILE), { readonly: true });
      try {
        const plan = db.prepare<[string, number], { detail: string }>(`EXPLAIN QUERY PLAN ${RANGE_LOOKUP_SQL.issue}`).all(SERIES, 3101);
        assert.match(plan.map((p) => p.detail).join('; '), /USING (COVERING )?INDEX events_issue_first /, JSON.stringify(plan));
      } finally {
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const missing = postgresMissing();
  describe('PostgreSQL', { skip: missing ?? false }, () => {
    let pg: TestPostgres;
    let store: PostgresStore;
    before(async () => {
      pg = await startTestPostgres();
      store = new PostgresStore({ url: pg.url, schema: 'lookups', poolSize: 2 });
      await store.open();
    });
    after(async () => {
      await store?.close();
      await pg?.dispose();
    });

    it('the same holders; the issue lookup searches its partial index', async () => {
      await lookups(store, await writeTrail(store));
      const sql = postgres(pg.url, { max: 1, onnotice: () => undefined });
      try {
        await sql.begin(async (tx) => {
          // On 3,000 rows the planner may prefer a sequential scan; a trail of millions would not.
          await tx.unsafe('SET LOCAL enable_seqscan = off');
          const plan = await tx.unsafe<{ 'QUERY PLAN': string }[]>(`EXPLAIN ${rangeLookupSql('"lookups"', 'issue')}`, [SERIES, [3101]]);
          const text = plan.map((p) => p['QUERY PLAN']).join('\n');
          assert.match(text, /Index (Only )?Scan( Backward)? using events_issue_first /, text);
        });
      } finally {
        await sql.end();
      }
    });
  });
});
