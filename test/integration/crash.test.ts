import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { http } from '../helpers/seqd-server.js';
import { spawnSeqd, type SeqdProcess } from '../helpers/seqd-process.js';

const CLIENTS = 20;
const KILL_AFTER_ACKS = 3000;
const SITES = [
  ['site-1', 'partition-a'],
  ['site-2', 'partition-b'],
] as const;

interface AuditEvent {
  event: string;
  first: number;
  last: number;
  siteId: string;
  partitionId: string;
}

describe('crash: kill -9 under load, restart on the same data', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'seqd-crash-'));
  const procs: SeqdProcess[] = [];
  after(() => {
    for (const p of procs) p.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses no acknowledged number or release, and the HWM never goes back', async () => {
    const env = { SEQ_DATA_DIR: dataDir, SEQ_PROFILE: 'poc' };
    const first = await spawnSeqd([], env);
    procs.push(first);

    const acked = new Map<number, { site: string; partition: string }>();
    const ackedReleases = new Set<number>();
    let failed = 0;
    let killed = false;
    let maxAcked = 0;

    const client = async (id: number) => {
      const [site, partition] = SITES[id % SITES.length] ?? SITES[0];
      const mine: number[] = [];
      let i = 0;
      while (!killed) {
        i++;
        try {
          if (mine.length > 3 && i % 7 === 0) {
            const n = mine.shift() as number;
            const r = await http(first.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: n, siteId: site, partitionId: partition, reason: 'crash-test' });
            if (r.status === 200) ackedReleases.add(n);
            continue;
          }
          const r = await http<{ numbers: number[] }>(first.url, 'POST', '/api/v1/sequence/next', {
            siteId: site,
            partitionId: partition,
            invoiceType: 'on-cycle',
            count: 1 + (i % 3),
          });
          if (r.status !== 200) continue;
          for (const n of r.body.numbers) {
            acked.set(n, { site, partition });
            mine.push(n);
            maxAcked = Math.max(maxAcked, n);
          }
          if (acked.size >= KILL_AFTER_ACKS && !killed) {
            killed = true;
            first.child.kill('SIGKILL');
          }
        } catch {
          failed++; // connection reset or refused: the outcome is unknown, which is allowed
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
    assert.equal(await first.exited, 'SIGKILL');

    const second = await spawnSeqd([], env);
    procs.push(second);
    const B = second.url;

    const stats = await http<{ highWaterMark: number }>(B, 'GET', '/api/v1/sequence/stats');
    assert.ok(stats.body.highWaterMark >= maxAcked, `HWM ${stats.body.highWaterMark} went below the acknowledged ${maxAcked}`);

    // Replay the trail: every acknowledged number was issued to its holder and is still there.
    const holder = new Map<number, string>();
    const releasedInTrail = new Set<number>();
    let cursor = 0;
    for (;;) {
      const page = await http<{ events: AuditEvent[]; nextCursor: number | null }>(B, 'GET', `/api/v1/audit?order=asc&limit=1000&cursor=${cursor}`);
      for (const e of page.body.events) {
        for (let n = e.first; n <= e.last; n++) {
          if (e.event === 'issue' || e.event === 'refill') {
            assert.ok(!holder.has(n) || releasedInTrail.has(n), `number ${n} issued twice without a release`);
            holder.set(n, `${e.siteId}/${e.partitionId}`);
            releasedInTrail.delete(n);
          } else if (e.event === 'release') {
            releasedInTrail.add(n);
          }
        }
      }
      if (page.body.nextCursor === null) break;
      cursor = page.body.nextCursor;
    }
    for (const [n, h] of acked) {
      assert.ok(holder.has(n), `acknowledged number ${n} is missing from the trail`);
      if (!ackedReleases.has(n) && !releasedInTrail.has(n)) {
        assert.equal(holder.get(n), `${h.site}/${h.partition}`, `acknowledged number ${n} changed holder`);
      }
    }
    for (const n of ackedReleases) {
      const ev = await http<{ events: AuditEvent[] }>(B, 'GET', `/api/v1/audit?number=${n}&event=release`);
      assert.ok(ev.body.events.length >= 1, `acknowledged release of ${n} is missing from the trail`);
    }

    const verify = await http<{ valid: boolean; continuity: { problem: string | null } }>(B, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true, String(verify.body.continuity.problem));

    const next = await http<{ numbers: number[]; refilled: number[] }>(B, 'POST', '/api/v1/sequence/next', {
      siteId: 'site-1',
      partitionId: 'partition-a',
      invoiceType: 'on-cycle',
      count: 1,
    });
    assert.equal(next.status, 200);
    if (next.body.refilled.length === 0) assert.ok((next.body.numbers[0] ?? 0) > maxAcked);

    // Logs: the file exists and holds no line per allocation.
    const log = readFileSync(join(dataDir, 'logs', 'sequential-number-poc.log'), 'utf8');
    assert.match(log, /seqd listening on/);
    assert.ok(log.split('\n').length < 100, `${log.split('\n').length} log lines for ${acked.size} allocations`);
    console.log(`crash test: ${acked.size} numbers and ${ackedReleases.size} releases acknowledged before kill -9, ${failed} requests cut off; HWM after restart ${stats.body.highWaterMark}`);
  });
});
