import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { runCli } from '../helpers/cli.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

const missing = etcdMissing();
const HOLDER = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };

interface Event {
  seq: number;
  event: string;
  hash: string;
  reason: string | null;
}

async function trail(url: string): Promise<Event[]> {
  const text = await (await fetch(`${url}/api/v1/audit/export?format=ndjson&series=global`)).text();
  return text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
}

/**
 * A POC with history (SQLite) migrated to etcd while an instance serves it, then back to a new
 * SQLite store: numbering goes on where it stopped, on the same chain (each move adds its
 * maintenance switch and a migrate event); every source refuses to issue afterwards.
 */
describe('seqd migrate between SQLite and etcd', { skip: missing ?? false, timeout: 180_000 }, () => {
  let dir: string;
  let tc: TestCluster;
  const servers: TestServer[] = [];
  const start = async (sequence: Record<string, unknown>, dataDir: string) => {
    const s = await startTestServer({ sequence }, dataDir);
    servers.push(s);
    return s;
  };
  let etcdConfig: Record<string, unknown>;
  const yml = (name: string, body: string) => {
    const file = join(dir, name);
    writeFileSync(file, body);
    return file;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seqd-migrate-'));
    tc = await startTestCluster();
    etcdConfig = { storage: 'etcd', etcd: { embedded: false, endpoints: tc.cluster.endpoints, 'forward-commits': false } };
  });
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    await tc?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves the numbering SQLite → etcd → SQLite: same chain, numbering goes on, every source refuses afterwards', async () => {
    // The POC with history.
    const poc = await start({}, join(dir, 'poc'));
    const taken: number[] = [];
    for (let i = 0; i < 20; i++) taken.push(...((await http<{ numbers: number[] }>(poc.url, 'POST', '/api/v1/sequence/next', { ...HOLDER, count: 2 }, { 'idempotency-key': `poc-${i}` })).body.numbers));
    assert.equal((await http(poc.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 7, siteId: 'site-1', partitionId: 'partition-a', reason: 'cancelled' })).status, 200);
    assert.equal((await http(poc.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 3, siteId: 'site-1', partitionId: 'partition-a' })).status, 200);
    const pocTrail = await trail(poc.url);
    await poc.close();

    const sqliteYml = yml('sqlite.yml', `sequence:\n  storage: sqlite\n  data-dir: ${join(dir, 'poc')}\n`);
    const endpoints = (etcdConfig.etcd as { endpoints: string[] }).endpoints;
    const etcdYml = yml('etcd.yml', `sequence:\n  storage: etcd\n  data-dir: ${join(dir, 'ha')}\n  etcd:\n    embedded: false\n    endpoints: [${endpoints.join(', ')}]\n`);
    const first = await runCli(['migrate', '--from', sqliteYml, '--to', etcdYml]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /migrated in/);

    // The HA store serves on from where the POC stopped, on the same chain.
    const ha = await start(etcdConfig, join(dir, 'ha'));
    const haTrail = await trail(ha.url);
    const row = (e: Event) => [e.seq, e.event, e.reason, e.hash];
    assert.deepEqual(haTrail.slice(0, pocTrail.length).map(row), pocTrail.map(row), 'the POC trail carried over event by event, hashes and all');
    assert.deepEqual(haTrail.slice(pocTrail.length).map((e) => e.event), ['setting', 'migrate']);
    const next = await http<{ numbers: number[] }>(ha.url, 'POST', '/api/v1/sequence/next', HOLDER);
    assert.equal(next.status, 200);
    assert.equal(next.body.numbers[0], 7, 'the released number is refilled first (gap policy), then the counter goes on');
    const counter = await http<{ numbers: number[] }>(ha.url, 'POST', '/api/v1/sequence/next', HOLDER);
    assert.equal(counter.body.numbers[0], Math.max(...taken) + 1);
    const retry = await http<{ numbers: number[] }>(ha.url, 'POST', '/api/v1/sequence/next', { ...HOLDER, count: 2 }, { 'idempotency-key': 'poc-4' });
    assert.deepEqual(retry.body.numbers, taken.slice(8, 10), 'a retry of a request made on the POC gets its numbers back');
    assert.equal((await http<{ valid: boolean }>(ha.url, 'GET', '/api/v1/audit/verify?series=global')).body.valid, true);

    // The old POC, started again by mistake, issues nothing.
    const old = await start({}, join(dir, 'poc'));
    const refused = await http<{ error: { code: string } }>(old.url, 'POST', '/api/v1/sequence/next', HOLDER);
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'MAINTENANCE');
    const reopen = await runCli(['maintenance', 'off', '--reason', 'by mistake', '--url', old.url]);
    assert.notEqual(reopen.code, 0, 'a store the numbering left cannot be switched back on');
    assert.match(reopen.stderr, /moved to/);
    await old.close();
    const twice = await runCli(['migrate', '--from', sqliteYml, '--to', yml('other.yml', `sequence:\n  storage: sqlite\n  data-dir: ${join(dir, 'other')}\n`)]);
    assert.equal(twice.code, 2, twice.stderr);
    assert.match(twice.stderr, /moved to .* already/);

    // Back to a new SQLite store, while the HA instance still serves: from then on it refuses.
    const backYml = yml('back.yml', `sequence:\n  storage: sqlite\n  data-dir: ${join(dir, 'back')}\n`);
    const haBefore = await trail(ha.url);
    const second = await runCli(['migrate', '--from', etcdYml, '--to', backYml]);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const during = await http<{ error: { code: string } }>(ha.url, 'POST', '/api/v1/sequence/next', HOLDER);
    assert.equal(during.body.error.code, 'MAINTENANCE', 'the HA instance still running refuses to issue');
    const back = await start({}, join(dir, 'back'));
    const backTrail = await trail(back.url);
    assert.deepEqual(backTrail.slice(0, haBefore.length).map((e) => e.hash), haBefore.map((e) => e.hash), 'the chain carried over again');
    assert.deepEqual(backTrail.slice(haBefore.length).map((e) => e.event), ['setting', 'migrate']);
    const last = await http<{ numbers: number[] }>(back.url, 'POST', '/api/v1/sequence/next', HOLDER);
    assert.equal(last.body.numbers[0], Math.max(...taken) + 2);
    assert.equal((await http<{ valid: boolean }>(back.url, 'GET', '/api/v1/audit/verify?series=global')).body.valid, true);
  });

  it('refuses a target that holds data, and migrating a store onto itself, before touching the source', async () => {
    for (const s of servers.splice(0)) await s.close();
    const etcdYml = join(dir, 'etcd.yml');
    const again = await runCli(['migrate', '--from', join(dir, 'back.yml'), '--to', etcdYml]);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /not empty/);
    const back = await start({}, join(dir, 'back'));
    assert.equal((await http(back.url, 'POST', '/api/v1/sequence/next', HOLDER)).status, 200, 'the refused move left the source serving');
    await back.close();
    const self = await runCli(['migrate', '--from', etcdYml, '--to', etcdYml]);
    assert.equal(self.code, 2);
    assert.match(self.stderr, /same store/);
  });
});

/** What a migration refuses up front, and how one that stopped after the freeze is finished (SQLite → SQLite). */
describe('seqd migrate: a source in maintenance, and a run that stopped after the freeze', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'seqd-migrate-resume-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a source in maintenance; a run that failed past the freeze is finished by running it again', async () => {
    const yml = (name: string, dataDir: string) => {
      const file = join(dir, name);
      writeFileSync(file, `sequence:\n  storage: sqlite\n  data-dir: ${dataDir}\n`);
      return file;
    };
    const src = join(dir, 'src');
    const target = join(dir, 'target');
    const fromYml = yml('from.yml', src);
    const toYml = yml('to.yml', target);
    let s = await startTestServer({}, src);
    const numbers = (await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...HOLDER, count: 5 })).body.numbers;
    assert.equal((await http(s.url, 'POST', '/api/v1/admin/maintenance', { enabled: true, reason: 'restore drill, not checked yet' })).status, 200);
    await s.close();
    const refused = await runCli(['migrate', '--from', fromYml, '--to', toYml]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /the source is in maintenance .* switch its maintenance off/);

    s = await startTestServer({}, src);
    assert.equal((await http(s.url, 'POST', '/api/v1/admin/maintenance', { enabled: false, reason: 'checked' })).status, 200);
    await s.close();
    // The copy cannot be written (no such directory): the run stops after the source was frozen.
    const failed = await runCli(['migrate', '--from', fromYml, '--to', toYml, '--keep-file', join(dir, 'missing', 'copy.seqd-backup')]);
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /frozen for good .* run the same seqd migrate again/);
    // What a restore that died midway leaves: a marked, half-written target.
    const half = new SqliteStore({ dataDir: target });
    const loader = half.openLoader();
    await loader.begin(false);
    await loader.putIdentity({ storeId: 'half', createdAt: 1, adopted: false, numbering: { strategy: { splitBy: [], rollover: null }, formats: {} } });
    await half.close();

    const resumed = await runCli(['migrate', '--from', fromYml, '--to', toYml]);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.match(resumed.stdout, /frozen for this target by an earlier run: going on, replacing the half-written target/);
    s = await startTestServer({}, target);
    try {
      const next = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', HOLDER);
      assert.deepEqual(next.body.numbers, [Math.max(...numbers) + 1]);
      assert.equal((await http<{ valid: boolean }>(s.url, 'GET', '/api/v1/audit/verify')).body.valid, true);
    } finally {
      await s.close();
    }
    // Its own backup restored over the frozen source would let it issue beside the target: refused.
    const copy = join(dir, 'frozen.seqd-backup');
    assert.equal((await runCli(['backup', '--offline', '--data-dir', src, '--out', copy])).code, 0);
    const over = await runCli(['restore', copy, '--data-dir', src, '--replace']);
    assert.equal(over.code, 4, over.stdout + over.stderr);
    assert.match(over.stderr, /numbering moved to .* \(seqd migrate\)/);
  });
});
