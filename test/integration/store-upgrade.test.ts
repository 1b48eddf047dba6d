import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Etcd3 } from 'etcd3';
import { StoreUnavailableError } from '../../src/domain/errors/index.js';
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
      await raw.put('seqd/format').value('3');
      await assert.rejects(store.upgradeFormat(), (e: unknown) => e instanceof StoreUnavailableError && /newer seqd/.test(e.message));
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
    assert.equal(db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get()?.value, '2');
    db.prepare("UPDATE meta SET value = '3' WHERE key = 'schema_version'").run();
    db.close();
    assert.throws(() => new SqliteStore({ dataDir: dir }), /newer seqd/);
  });
});
