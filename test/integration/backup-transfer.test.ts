import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeBackupFile } from '../../src/backup/backup-file.js';
import { restoreBackup } from '../../src/backup/restore.js';
import { storeBackup } from '../../src/backup/store-backup.js';
import { EtcdStore } from '../../src/storage/etcd/etcd-store.js';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import type { SequenceStore } from '../../src/storage/sequence-store.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';
import { randomHistory } from '../helpers/random-history.js';
import { rng } from '../helpers/rng.js';
import { dumpStore } from '../helpers/store-dump.js';

const DAY = 24 * 3600_000;
const missing = etcdMissing() ?? postgresMissing();
const SEEDS = process.env.SEQD_TRANSFER_SEEDS ? process.env.SEQD_TRANSFER_SEEDS.split(',').map(Number) : [11, 23, 37, 41, 59, 67];

async function backupTo(store: SequenceStore, file: string) {
  return writeBackupFile(file, await storeBackup(store, { requestWindowMs: DAY }));
}

/**
 * Random histories (allocations, keyed retries, releases, expiries, refills, confirms, closes,
 * setting toggles, under each gap policy) moved SQLite → etcd → PostgreSQL → SQLite through backup
 * files: every read of every store answers the same, event hashes and chain heads included.
 */
describe('backup and restore move random histories between every kind of store unchanged', { skip: missing ?? false }, () => {
  let dir: string;
  let etcd: TestCluster;
  let pg: TestPostgres;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seqd-transfer-'));
    [etcd, pg] = await Promise.all([startTestCluster(), startTestPostgres()]);
  });
  after(async () => {
    await Promise.all([etcd?.dispose(), pg?.dispose()]);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const seed of SEEDS) {
    it(`seed ${seed}: SQLite → etcd → PostgreSQL → SQLite`, async () => {
      const source = new SqliteStore({ dataDir: join(dir, `source-${seed}`) });
      const history = await randomHistory(source, rng(seed), { series: ['global', 'site-1@2026', 'site-2@2026'], steps: 60 });
      await source.saveIdentity({ storeId: `seed-${seed}`, createdAt: seed, adopted: false, numbering: { strategy: { splitBy: [], rollover: null }, formats: {} } }, null);
      const expected = await dumpStore(source, history.keys);
      const first = await backupTo(source, join(dir, `${seed}-sqlite.seqd-backup`));
      await source.close();
      assert.ok(first.counts.events > 30, `a history worth moving (${first.counts.events} events, ${history.batches} batches, ${history.gapPolicy})`);

      const hops: [string, () => Promise<SequenceStore>][] = [
        ['etcd', async () => new EtcdStore({ endpoints: etcd.cluster.endpoints, requestTimeoutMs: 2000 })],
        ['postgres', async () => {
          const s = new PostgresStore({ url: pg.url, schema: `transfer_${seed}`, poolSize: 2 });
          await s.open();
          return s;
        }],
        ['sqlite', async () => new SqliteStore({ dataDir: join(dir, `target-${seed}`) })],
      ];
      let file = join(dir, `${seed}-sqlite.seqd-backup`);
      for (const [kind, open] of hops) {
        const target = await open();
        try {
          const restored = await restoreBackup(file, target.openLoader(), { replace: true });
          assert.deepEqual(restored.heads, first.heads, `${kind}: the chain heads carried over`);
          assert.deepEqual(await dumpStore(target, history.keys), expected, `${kind}: every read answers as the source`);
          file = join(dir, `${seed}-${kind}.seqd-backup`);
          const again = await backupTo(target, file);
          assert.deepEqual(again.heads, first.heads, `${kind}: its backup has the same heads`);
          assert.deepEqual(again.counts, first.counts);
        } finally {
          await target.close();
        }
      }
    });
  }
});
