import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { planBatch } from '../../src/domain/planner.js';
import type { Op } from '../../src/domain/types.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { runCli } from '../helpers/cli.js';
import { driveKeyedClients, type KeyedTally } from '../helpers/keyed-clients.js';
import { seqdCommand } from '../helpers/seqd-command.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

/** `  <series>: high-water mark <n>, head <seq>:<hash>` lines of `seqd backup`. */
function headsOf(stdout: string): Map<string, { hwm: number; seq: number; hash: string }> {
  const out = new Map<string, { hwm: number; seq: number; hash: string }>();
  for (const m of stdout.matchAll(/^ {2}(\S+): high-water mark (-?\d+), head (\d+):([0-9a-f]{64})$/gm)) {
    out.set(m[1] as string, { hwm: Number(m[2]), seq: Number(m[3]), hash: m[4] as string });
  }
  return out;
}

async function emptyStore(dir: string): Promise<string[]> {
  const s = new SqliteStore({ dataDir: dir });
  try {
    return await s.listSeries();
  } finally {
    await s.close();
  }
}

describe('seqd backup and seqd restore', () => {
  let dir: string;
  let server: TestServer;
  let backup: string;
  let heads: ReturnType<typeof headsOf>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seqd-backup-'));
    server = await startTestServer();
  });
  after(async () => {
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('backs up a running instance under load from 32 clients; the restore holds every number acknowledged before it, and verifies', async () => {
    let stop = false;
    const tally: KeyedTally = { acknowledged: [], failed: 0, stall: 0 };
    const load = driveKeyedClients({ url: server.url, clients: 32, keyPrefix: 'under-backup', stop: () => stop, tally });
    await sleep(1500);
    backup = join(dir, 'under-load.seqd-backup');
    // Numbers acknowledged before the backup starts must all be in it.
    const snapshotOfAcked = [...tally.acknowledged];
    assert.ok(snapshotOfAcked.length > 100, `load is running (${snapshotOfAcked.length} numbers)`);
    const r = await runCli(['backup', '--out', backup, '--url', server.url]);
    stop = true;
    const final = await load;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^backup written: /m);
    heads = headsOf(r.stdout);
    const head = heads.get('global');
    assert.ok(head && head.hwm >= snapshotOfAcked.length, `the backup holds at least the ${snapshotOfAcked.length} numbers acknowledged before it`);
    assert.ok(final.acknowledged.length > snapshotOfAcked.length, 'numbers kept being issued while the backup ran');
    // The backup's chain is a prefix of the live one: the source has the same hash at its head.
    const [atHead] = await server.service.store.readEvents('global', head.seq - 1, 1);
    assert.equal(atHead?.hash, head.hash);

    const target = join(dir, 'restored');
    const restored = await runCli(['restore', backup, '--data-dir', target]);
    assert.equal(restored.code, 0, restored.stdout + restored.stderr);
    assert.match(restored.stdout, /verify passed/);
    const store = new SqliteStore({ dataDir: target });
    try {
      const state = await store.loadSeries('global', 1);
      assert.deepEqual([state.hwm, state.eventSeq, state.lastHash], [head.hwm, head.seq, head.hash]);
      const found = await store.lookupNumbers('global', snapshotOfAcked);
      const missing = snapshotOfAcked.filter((n) => found.get(n)?.status !== 'issued');
      assert.deepEqual(missing, [], 'every number acknowledged before the backup is issued in the restored store');
      assert.equal(new Set(final.acknowledged).size, final.acknowledged.length, 'no number was acknowledged twice');
    } finally {
      await store.close();
    }
  });

  it('refuses a damaged, truncated or edited backup, and writes nothing', async () => {
    const bytes = readFileSync(backup);
    const flipped = Buffer.from(bytes);
    const mid = Math.floor(flipped.length / 2);
    flipped[mid] = (flipped[mid] ?? 0) ^ 0xff;
    const text = gunzipSync(bytes).toString();
    const lines = text.trimEnd().split('\n');
    // An event edited, the checksum recomputed to match: the hash chain catches it.
    const i = lines.findIndex((l) => l.startsWith('{"t":"events"'));
    const edited = lines.slice(0, -1);
    edited[i] = (edited[i] as string).replace('"site-1"', '"site-9"');
    assert.notEqual(edited[i], lines[i]);
    const manifest = JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
    const reseal = (content: string[]) => {
      const all = content.map((l) => `${l}\n`).join('');
      return `${all}${JSON.stringify({ ...manifest, sha256: createHash('sha256').update(all).digest('hex') })}\n`;
    };
    const resealed = reseal(edited);
    // A total edited and resealed: no hash covers it, the replay of the trail does.
    const totalEdited = reseal(lines.slice(0, -1).map((l) => (l.startsWith('{"t":"series"') ? l.replace(/("totals":\[\{[^}]*"issued":)(\d+)/, (_, head: string, n: string) => `${head}${Number(n) + 1}`) : l)));
    const cases: [string, Buffer, RegExp][] = [
      // Whichever check meets the damage first: gzip's CRC, JSON, an event's hash or the checksum.
      ['a flipped byte', flipped, /not a readable gzip file|checksum|not JSON|hash does not match|not a seqd backup/],
      ['cut in half', bytes.subarray(0, Math.floor(bytes.length / 2)), /truncated|no manifest/],
      ['without its manifest', gzipSync(lines.slice(0, -1).map((l) => `${l}\n`).join('')), /no manifest/],
      // No hash covers the totals: the checksum does.
      ['a total edited', gzipSync(lines.map((l) => `${l.startsWith('{"t":"series"') ? l.replace(/"issued":(\d+)/, (_, n: string) => `"issued":${Number(n) + 1}`) : l}\n`).join('')), /checksum does not match/],
      ['an event edited and the checksum recomputed', gzipSync(resealed), /hash does not match the event content/],
      ['a total edited and the checksum recomputed', gzipSync(totalEdited), /totals of .*: issued \d+ stored, \d+ by the trail/],
      ['not a backup', gzipSync('{"hello":"world"}\n'), /not a seqd backup/],
    ];
    for (const [what, content, message] of cases) {
      const file = join(dir, `bad-${what.replaceAll(' ', '-')}.seqd-backup`);
      writeFileSync(file, content);
      const target = join(dir, `bad-target-${what.replaceAll(' ', '-')}`);
      const r = await runCli(['restore', file, '--data-dir', target]);
      assert.equal(r.code, 1, `${what}: refused with exit 1 (${r.stdout}${r.stderr})`);
      assert.match(r.stderr, message, what);
      assert.match(r.stderr, /nothing was written/, what);
      assert.deepEqual(await emptyStore(target), [], `${what}: the target store is still empty`);
    }
  });

  it('a resealed backup whose idempotency record was edited is written but fails verify: the store stays marked and refuses to open', async () => {
    const lines = gunzipSync(readFileSync(backup)).toString().trimEnd().split('\n');
    const i = lines.findIndex((l) => l.startsWith('{"t":"requests"'));
    assert.ok(i > 0, 'the backup holds idempotency records');
    // The first record's number moved by one: a retry would get a number its request never had.
    const edited = (lines[i] as string).replace(/"numbers":\[(\d+)/, (_, n: string) => `"numbers":[${Number(n) + 1}`);
    assert.notEqual(edited, lines[i]);
    lines[i] = edited;
    const body = lines.slice(0, -1).map((l) => `${l}\n`).join('');
    const manifest = JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
    const file = join(dir, 'resealed-request.seqd-backup');
    writeFileSync(file, gzipSync(`${body}${JSON.stringify({ ...manifest, sha256: createHash('sha256').update(body).digest('hex') })}\n`));
    const target = join(dir, 'resealed-target');
    const r = await runCli(['restore', file, '--data-dir', target]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /does not verify/);
    const store = new SqliteStore({ dataDir: target });
    try {
      await assert.rejects(store.loadIdentity(), /restore into this store did not finish/);
    } finally {
      await store.close();
    }
  });

  it('refuses to restore into a store that holds data unless told to replace it', async () => {
    const target = join(dir, 'restored');
    const again = await runCli(['restore', backup, '--data-dir', target]);
    assert.equal(again.code, 4, again.stderr);
    assert.match(again.stderr, /not empty/);
    const replaced = await runCli(['restore', backup, '--data-dir', target, '--replace']);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.match(replaced.stdout, /verify passed/);
  });

  it('writes scheduled backups, keeps the newest, reports them on /metrics, and one of them passes the restore drill', async () => {
    const scheduled = await startTestServer({ backup: { interval: '1s', directory: 'backups', keep: 2 } });
    try {
      const folder = join(scheduled.dataDir, 'backups');
      // What runs killed midway left: a stale one (two days untouched) goes, a recent one may still be written.
      mkdirSync(folder, { recursive: true });
      const stale = join(folder, '.seqd-backup-20261201T000000Z-11-1.seqd-backup.partial-11');
      const recent = join(folder, '.seqd-backup-20261205T000000Z-12-1.seqd-backup.partial-12');
      writeFileSync(stale, 'cut short');
      writeFileSync(recent, 'being written');
      utimesSync(stale, new Date(Date.now() - 2 * 24 * 3600_000), new Date(Date.now() - 2 * 24 * 3600_000));
      for (let i = 0; i < 5; i++) await http(scheduled.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 3 });
      let files: string[] = [];
      for (let i = 0; i < 100 && files.length < 2; i++) {
        await sleep(100);
        files = existsSync(folder) ? readdirSync(folder).filter((f) => f.endsWith('.seqd-backup')) : [];
      }
      await sleep(2500);
      // Stopped before the files are read: the next run would prune the oldest.
      await scheduled.backups?.stop();
      files = readdirSync(folder).filter((f) => f.endsWith('.seqd-backup')).sort();
      assert.equal(files.length, 2, `the newest two are kept (${files.join(', ')})`);
      assert.deepEqual([existsSync(stale), existsSync(recent)], [false, true], 'a stale partial file is pruned, a recent one left');
      const metrics = await (await fetch(`${scheduled.url}/metrics`)).text();
      assert.match(metrics, /^seqd_backup_interval_seconds 1$/m);
      const last = Number(/^seqd_backup_last_success_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
      assert.ok(Date.now() / 1000 - last < 10, 'a recent success');
      assert.match(metrics, /^seqd_backup_last_size_bytes [1-9]\d*$/m);
      assert.match(metrics, /^seqd_maintenance 0$/m);
      // The drill: the newest file into a new store, verified, left in maintenance.
      const drill = await runCli(['restore', join(folder, files[files.length - 1] as string), '--data-dir', join(dir, 'drill')]);
      assert.equal(drill.code, 0, drill.stdout + drill.stderr);
      assert.match(drill.stdout, /verify passed/);
      assert.match(drill.stdout, /the store is in maintenance/);
    } finally {
      await scheduled.dispose();
    }
  });

  it('leaves no file that looks complete when killed with SIGKILL in the middle of a backup', async () => {
    // A store big enough for the backup to take a while: 60,000 events.
    const source = join(dir, 'big');
    const store = new SqliteStore({ dataDir: source });
    let state = await store.loadSeries('global', 1);
    for (let b = 0; b < 30; b++) {
      const ops: Op[] = Array.from({ length: 2000 }, () => ({ kind: 'allocate', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 }));
      const plan = planBatch(state, ops, new Map(), { batchId: `big-${b}`, node: 'test', now: Date.now(), gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
      assert.ok(plan.commit);
      const r = await store.commit(plan.commit);
      assert.equal(r.status, 'committed');
      state = { ...plan.commit.next, version: r.status === 'committed' ? r.version : '' };
    }
    await store.close();
    const out = join(dir, 'killed.seqd-backup');
    const child = spawn(process.execPath, [...seqdCommand(), 'backup', '--offline', '--data-dir', source, '--out', out], { stdio: 'ignore' });
    let partial: string | undefined;
    for (let i = 0; i < 3000 && !partial; i++) {
      partial = readdirSync(dir).find((f) => f.startsWith('.killed.seqd-backup.partial-') && statSync(join(dir, f)).size > 0);
      if (!partial) await sleep(5);
    }
    assert.ok(partial, 'the backup started writing');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(existsSync(out), false, 'nothing at --out');
    const r = await runCli(['restore', join(dir, partial), '--data-dir', join(dir, 'from-partial')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /truncated|no manifest/);
  });
});

