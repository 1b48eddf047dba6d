import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SQLITE_FILE } from '../../src/storage/sqlite/sqlite-store.js';
import { http, startTestServer } from '../helpers/seqd-server.js';
import { seqdCommand } from '../helpers/seqd-command.js';

const body = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
// Without gap recovery the released 3 stays a gap: the gap report shows it as its holder saw it.
const withFormat = (prefix: string) => ({ sequence: { format: { prefix, padding: 6 }, core: { 'gap-recovery-enabled': false } } });
type Next = { numbers: number[]; formatted?: string[]; replayed?: boolean };

const dirs: string[] = [];

/** A store whose global series printed 1–2 (key k-1) and 3 (released) as `A-…`, the server stopped. */
async function printedA(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-printed-'));
  dirs.push(dir);
  const a = await startTestServer(withFormat('A'), dir);
  const first = await http<Next>(a.url, 'POST', '/api/v1/sequence/next', { ...body, count: 2, requestId: 'k-1' });
  assert.deepEqual(first.body.formatted, ['A-000001', 'A-000002']);
  await http(a.url, 'POST', '/api/v1/sequence/next', body);
  const released = await http(a.url, 'POST', '/api/v1/sequence/release', { ...body, sequenceNumber: 3, reason: 'cancelled' });
  assert.equal(released.status, 200, JSON.stringify(released.body));
  await a.close();
  return dir;
}

/** `seqd change-numbering --apply` to format `B-…`, on a machine whose clock is `skewMs` off. */
function changeToB(dir: string, skewMs = 0): { code: number | null; out: string } {
  const yml = join(dir, 'b.yml');
  writeFileSync(yml, 'sequence:\n  format: { prefix: "B", padding: 6 }\n');
  const clock = skewMs === 0 ? [] : ['--import', `data:text/javascript,const real=Date.now;Date.now=()=>real()+(${skewMs})`];
  const r = spawnSync(process.execPath, [...clock, ...seqdCommand(), 'change-numbering', '--profile', 'poc', '--data-dir', dir, '--config', yml, '--apply'], {
    encoding: 'utf8',
    env: { ...process.env, SEQ_PROFILE: '' },
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** The retried `k-1` is answered with the text of its first answer. */
async function expectFirstText(url: string): Promise<void> {
  const retried = await http<Next>(url, 'POST', '/api/v1/sequence/next', { ...body, count: 2, requestId: 'k-1' });
  assert.equal(retried.body.replayed, true);
  assert.deepEqual(retried.body.formatted, ['A-000001', 'A-000002'], 'the retry is answered with the text first given');
}

async function changedFromAtoB(): Promise<string> {
  const dir = await printedA();
  const r = changeToB(dir);
  assert.equal(r.code, 0, r.out);
  return dir;
}

describe('a number keeps the text it was printed with after a change of format', () => {
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('answers a retried request, and exports the trail and the gaps, as printed at each commit', async () => {
    const dir = await changedFromAtoB();
    const s = await startTestServer(withFormat('B'), dir);
    try {
      const fresh = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', { ...body, requestId: 'k-2' });
      assert.deepEqual(fresh.body.formatted, ['B-000004']);
      await expectFirstText(s.url);

      const trail = (await (await fetch(`${s.url}/api/v1/audit/export?series=global&format=ndjson`)).text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; formatted: string | null });
      assert.deepEqual(
        trail.filter((e) => e.event === 'issue' || e.event === 'release').map((e) => `${e.event} ${e.formatted}`),
        ['issue A-000001..A-000002', 'issue A-000003', 'release A-000003', 'issue B-000004'],
      );
      const gaps = (await (await fetch(`${s.url}/api/v1/sequence/gaps/export?series=global&format=ndjson`)).text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { number: number; formatted: string | null });
      assert.deepEqual(gaps.map((g) => g.formatted), ['A-000003']);
    } finally {
      await s.close();
    }
  });

  it('prints the new format on an instance whose clock is behind the change', async () => {
    const dir = await changedFromAtoB();
    // An instance an hour behind the machine that recorded the change: its commits still come after it.
    const s = await startTestServer(withFormat('B'), dir, { now: () => Date.now() - 3_600_000 });
    try {
      const fresh = await http<Next>(s.url, 'POST', '/api/v1/sequence/next', body);
      assert.deepEqual(fresh.body.formatted, ['B-000004']);
      await expectFirstText(s.url);
    } finally {
      await s.close();
    }
  });

  it('dates the change by the stored events, not by the clock of the machine that records it', async () => {
    // Two hours behind the instances: dating the change by this clock would show A's numbers as B's.
    const behind = await printedA();
    const refused = changeToB(behind, -2 * 3_600_000);
    assert.equal(refused.code, 3, refused.out);
    assert.match(refused.out, /more than an hour after this machine's clock/);
    const unchanged = await startTestServer(withFormat('A'), behind);
    assert.deepEqual((await http<Next>(unchanged.url, 'POST', '/api/v1/sequence/next', body)).body.formatted, ['A-000004'], 'nothing was recorded');
    await unchanged.close();

    // A day ahead: instances started afterwards do not stamp their events a day ahead (which
    // would also keep reservations from expiring for a day).
    const ahead = await printedA();
    const applied = changeToB(ahead, 24 * 3_600_000);
    assert.equal(applied.code, 0, applied.out);
    const s = await startTestServer(withFormat('B'), ahead);
    try {
      const fresh = await http<Next & { timestamp: string }>(s.url, 'POST', '/api/v1/sequence/next', body);
      assert.deepEqual(fresh.body.formatted, ['B-000004']);
      // The command's own numbering event (in global) carries its clock; instances follow a
      // series' clock at most an hour ahead, as after any event from a clock ahead.
      assert.ok(Date.parse(fresh.body.timestamp) - Date.now() <= 3_600_000 + 60_000, `stamped ${fresh.body.timestamp}`);
      await expectFirstText(s.url);
    } finally {
      await s.close();
    }
  });

  it('dates the change after the events of a series stored before seqd kept its last event time', async () => {
    const dir = await printedA();
    // As a store written by a seqd before the series' clock was kept: 0 until the next commit.
    const db = new Database(join(dir, SQLITE_FILE));
    db.prepare('UPDATE series SET last_ts = 0').run();
    db.close();
    const r = changeToB(dir);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /commits from 1970/);
    const s = await startTestServer(withFormat('B'), dir);
    try {
      await expectFirstText(s.url);
    } finally {
      await s.close();
    }
  });
});
