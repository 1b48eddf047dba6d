import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fsyncFailure, type FsyncFailure } from '../helpers/fsync-failure.js';
import { mountSmallDisk, type SmallDisk } from '../helpers/small-disk.js';
import { spawnSeqd, type SeqdProcess } from '../helpers/seqd-process.js';
import { http } from '../helpers/seqd-server.js';

interface Next {
  numbers?: number[];
  error?: { code: string; message: string };
}
interface AuditPage {
  events: { event: string; first: number | null; last: number | null }[];
  nextCursor: number | null;
}

const disk = mountSmallDisk(32 * 1024 * 1024);

// The embedded store on a real filesystem that fills up (its log file on it too): allocation fails
// closed with 503 STORE_FULL, nothing acknowledged is lost, and it goes on by itself once there is
// space again, with the next number after the last one it acknowledged.
describe('embedded store on a full disk', { skip: typeof disk === 'string' ? disk : false }, () => {
  const d = disk as SmallDisk;
  let seqd: SeqdProcess;
  before(async () => {
    seqd = await spawnSeqd([], { SEQ_DATA_DIR: join(d.dir, 'data') });
  });
  after(() => {
    seqd?.child.kill('SIGKILL');
    d.unfill();
    d.dispose();
  });

  const next = () => http<Next>(seqd.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 20 });

  it('refuses with 503 STORE_FULL when full, loses nothing, and numbers on once space returns', async () => {
    const acknowledged: number[] = [];
    for (let i = 0; i < 5; i++) acknowledged.push(...((await next()).body.numbers ?? []));
    d.fill(192 * 1024);
    let refusal: Next['error'] | undefined;
    for (let i = 0; i < 2000 && !refusal; i++) {
      const r = await next();
      if (r.status === 200) acknowledged.push(...(r.body.numbers ?? []));
      else {
        assert.equal(r.status, 503, JSON.stringify(r.body));
        refusal = r.body.error;
      }
    }
    assert.equal(refusal?.code, 'STORE_FULL', `no STORE_FULL refusal: ${JSON.stringify(refusal)}`);
    assert.match(refusal?.message ?? '', /full/);
    // Still full: still refused, nothing half-written.
    assert.equal((await next()).status, 503);
    assert.equal(seqd.child.exitCode, null, `seqd exited on a full disk:\n${seqd.output().slice(-2000)}`);

    d.unfill();
    const again = await next();
    assert.equal(again.status, 200, `not committing again once there was space: ${JSON.stringify(again.body)}`);
    const after = again.body.numbers ?? [];
    assert.equal(after[0], Math.max(...acknowledged) + 1, 'the next number follows the last acknowledged one');

    // Every acknowledged number is in the trail, each once, and the trail is valid.
    const issued: number[] = [];
    for (let cursor = 0; ; ) {
      const page = await http<AuditPage>(seqd.url, 'GET', `/api/v1/audit?order=asc&event=issue&limit=1000&cursor=${cursor}`);
      for (const e of page.body.events) for (let n = e.first ?? 0; n <= (e.last ?? -1); n++) issued.push(n);
      if (page.body.nextCursor === null) break;
      cursor = page.body.nextCursor;
    }
    const all = [...acknowledged, ...after];
    assert.deepEqual(issued, all.slice().sort((a, b) => a - b));
    assert.deepEqual(issued, issued.map((_, i) => i + 1), 'numbers 1..N, none twice, none skipped');
    const verify = await http<{ valid: boolean }>(seqd.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
  });
});

const shim = fsyncFailure();

// A disk that refuses to make a commit durable (fsync fails with EIO, through an LD_PRELOAD shim).
// SQLite answers the commit as failed, yet its recovery after a restart may replay it from the WAL:
// so the request is answered as of unknown outcome (never "nothing was committed"), nothing more is
// written until a restart, and after it the trail is whole whichever way the recovery went.
describe('embedded store on a disk whose fsync fails', { skip: typeof shim === 'string' ? shim : false }, () => {
  const f = shim as FsyncFailure;
  const dir = mkdtempSync(join(tmpdir(), 'seqd-fsync-'));
  const procs: SeqdProcess[] = [];
  after(() => {
    for (const p of procs) p.child.kill('SIGKILL');
    rmSync(f.flag, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  const next = (url: string, key?: string) =>
    http<Next & { sequenceNumber?: number }>(url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', ...(key ? { requestId: key } : {}) });

  it('answers OUTCOME_UNKNOWN, stops writing until restarted, and the keyed retry after the restart settles it', async () => {
    const first = await spawnSeqd([], { SEQ_DATA_DIR: dir, ...f.env });
    procs.push(first);
    const acknowledged: number[] = [];
    for (let i = 0; i < 3; i++) acknowledged.push(...((await next(first.url, `ok-${i}`)).body.numbers ?? []));
    assert.deepEqual(acknowledged, [1, 2, 3]);

    writeFileSync(f.flag, '');
    const failed = await next(first.url, 'k-fail');
    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    assert.equal(failed.body.error?.code, 'OUTCOME_UNKNOWN', 'a failed fsync may still be on disk: never "nothing was committed"');
    rmSync(f.flag);
    // The disk answers again, but nothing is written on it before a restart.
    const after = await next(first.url, 'k-after');
    assert.equal(after.status, 503, JSON.stringify(after.body));
    assert.equal(after.body.error?.code, 'STORE_UNAVAILABLE');
    assert.match(after.body.error?.message ?? '', /restart/);

    first.child.kill('SIGKILL');
    await first.exited;
    const second = await spawnSeqd([], { SEQ_DATA_DIR: dir });
    procs.push(second);
    // The keyed retry: the numbers of the commit the recovery kept, or new ones if it did not.
    const retried = await next(second.url, 'k-fail');
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.deepEqual(retried.body.numbers, [4]);
    const later = await next(second.url);
    assert.deepEqual(later.body.numbers, [5]);
    const verify = await http<{ valid: boolean }>(second.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
  });
});
