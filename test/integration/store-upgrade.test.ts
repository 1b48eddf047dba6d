import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Etcd3 } from 'etcd3';
import { StoreUnavailableError } from '../../src/domain/errors/index.js';
import { planBatch } from '../../src/domain/planner.js';
import type { Op } from '../../src/domain/types.js';
import { EtcdStore } from '../../src/storage/etcd/etcd-store.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

const missing = etcdMissing();

describe('etcd data written by the previous version', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let raw: Etcd3;
  before(async () => {
    tc = await startTestCluster();
    raw = new Etcd3({ hosts: tc.cluster.endpoints });
  });
  after(async () => {
    raw?.close();
    await tc?.dispose();
  });

  it('moves idempotency records kept per series to their cross-series place, once, and refuses a newer format', async () => {
    // As format 1 wrote it: under the series, no series in the value.
    const legacy = JSON.stringify({ f: '["site-1","partition-a","on-cycle",1]', n: [[7, 7]], r: [], s: false, t: Date.now(), a: [3, 3] });
    await raw.put(`seqd/req/global@2026/${encodeURIComponent('eve/1')}`).value(legacy);
    const store = new EtcdStore({ endpoints: tc.cluster.endpoints, requestTimeoutMs: 1000 });
    try {
      assert.equal(await store.upgradeFormat(), 1);
      assert.equal(await store.upgradeFormat(), 0, 'done once');
      // A retry in the next period finds the key committed before the upgrade in the old one.
      const found = await store.lookupRequests('global@2027', ['eve/1'], Date.now() - 60_000);
      assert.equal(found.get('eve/1')?.series, 'global@2026');
      assert.deepEqual(found.get('eve/1')?.numbers, [7]);
      // From format 2 (before events recorded their actor) nothing moves: a record swept since
      // does not come back from its old place.
      await raw.delete().key(`seqd/key/${encodeURIComponent('eve/1')}`);
      await raw.put('seqd/format').value('2');
      assert.equal(await store.upgradeFormat(), 0);
      assert.equal(await raw.get('seqd/format').string(), '4');
      assert.equal(await raw.get(`seqd/key/${encodeURIComponent('eve/1')}`).string(), null);
      await raw.put('seqd/format').value('5');
      await assert.rejects(store.upgradeFormat(), (e: unknown) => e instanceof StoreUnavailableError && /newer seqd/.test(e.message));
    } finally {
      await store.close();
    }
  });

  it('is refused while one is announced (it would drop the mark), and commits once it is gone', async () => {
    const store = new EtcdStore({ endpoints: tc.cluster.endpoints, requestTimeoutMs: 1000 });
    try {
      const ctx = (batchId: string) => ({ batchId, node: 'test', now: Date.now(), gapPolicy: 'lowest-first' as const, settings: { simulatedEnabled: true } });
      let state = await store.loadSeries('old@2025', 1);
      for (const [i, op] of ([{ kind: 'allocate', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 3 }, { kind: 'close', reason: 'over' }] as Op[]).entries()) {
        const plan = planBatch(state, [op], new Map(), ctx(`arch-${i}`));
        assert.ok(plan.commit);
        const r = await store.commit(plan.commit);
        assert.equal(r.status, 'committed');
        state = { ...plan.commit.next, version: r.status === 'committed' ? r.version : '' };
      }
      // As a seqd of format 3 announces itself: no format.
      await raw.put('seqd/instances/old-node').value(JSON.stringify({ node: 'old-node', url: 'http://127.0.0.1:1' }));
      const archive = planBatch(state, [{ kind: 'archive', file: 'f', sha256: 'a'.repeat(64), headSeq: state.eventSeq, headHash: state.lastHash, reason: 'r' }], new Map(), ctx('arch-mark'));
      assert.ok(archive.commit);
      await assert.rejects(store.commit(archive.commit), /older version serve this store \(old-node\)/);
      assert.equal((await store.loadSeries('old@2025', 1)).archived ?? null, null, 'nothing was written');
      await raw.delete().key('seqd/instances/old-node');
      assert.equal((await store.commit(archive.commit)).status, 'committed');
      assert.equal((await store.loadSeries('old@2025', 1)).archived?.sha256, 'a'.repeat(64));
    } finally {
      await store.close();
    }
  });
});

describe('SQLite file written by a newer version', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-schema-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused on open; an older one is brought up to date', async () => {
    const first = new SqliteStore({ dataDir: dir });
    await first.close();
    const db = new Database(join(dir, 'seqd.sqlite'));
    assert.equal(db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get()?.value, '4');
    db.prepare("UPDATE meta SET value = '5' WHERE key = 'schema_version'").run();
    db.close();
    assert.throws(() => new SqliteStore({ dataDir: dir }), /newer seqd/);
  });
});

describe('idempotency records on etcd: no lease, swept by age', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  before(async () => {
    tc = await startTestCluster();
  });
  after(async () => tc?.dispose());

  it('deletes records past the window, keeps recent ones and a key recorded again since', async () => {
    const windowMs = 60_000;
    const store = new EtcdStore({ endpoints: tc.cluster.endpoints, requestTimeoutMs: 1000, requestWindowMs: windowMs });
    try {
      const keyed = (key: string): Op => ({ kind: 'allocate', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1, requestId: key });
      const commitAt = async (series: string, ks: string[], at: number) => {
        const state = await store.loadSeries(series, 1);
        const requests = await store.lookupRequests(series, ks, at - windowMs);
        const plan = planBatch(state, ks.map(keyed), new Map(), {
          batchId: `sweep-${series}-${at}`,
          node: 'test',
          now: at,
          gapPolicy: 'lowest-first',
          settings: { simulatedEnabled: true },
          requests,
          requestVersions: requests.versions,
        });
        assert.ok(plan.commit);
        assert.equal((await store.commit(plan.commit)).status, 'committed');
      };
      const now = Date.now();
      const old = now - windowMs - 20 * 60_000;
      await commitAt('sweep@2026', ['old-1', 'old-2', 'again'], old);
      // 'again' expired and was used again by a new request: its new record must stay.
      await commitAt('sweep@2027', ['again', 'fresh'], now);
      assert.equal(await store.sweepRequests(now), 2);
      const left = await store.lookupRequests('sweep@2027', ['old-1', 'old-2', 'again', 'fresh'], 0);
      assert.deepEqual([...left.keys()].sort(), ['again', 'fresh']);
      assert.equal(left.versions.get('old-1'), '0', 'deleted, not just expired');
      assert.equal(await store.sweepRequests(now), 0, 'the index entry went with them');
    } finally {
      await store.close();
    }
  });
});
