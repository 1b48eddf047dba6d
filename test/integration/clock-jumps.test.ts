import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { fakeClockMissing, jumpingClockEnv, setClockFile } from '../helpers/fake-clock.js';
import { spawnSeqd, type SeqdProcess } from '../helpers/seqd-process.js';
import { http } from '../helpers/seqd-server.js';

/**
 * One seqd (embedded store) whose wall clock jumps back and forward while it runs (libfaketime
 * reading its offset from a file): the trail's times never go backwards, the year's series closes
 * once, a clock set back into a closed year is refused, a keyed retry replays within its window,
 * and a reservation held across a jump beyond its timeout has expired.
 */
const missing = fakeClockMissing();
const holder = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
const Y = new Date().getUTCFullYear() + 1;
const at = (iso: string) => Date.parse(iso.replace('YYYY', String(Y)).replace('NEXT', String(Y + 1)));

interface Event {
  series: string;
  seq: number;
  event: string;
  timestamp: string;
  first: number | null;
}

describe('a clock that jumps back and forward (faketime)', { skip: missing ?? false }, () => {
  let dir: string;
  let clock: string;
  let seqd: SeqdProcess;
  const next = (key: string) => http<{ numbers: number[]; allocation: string; replayed?: boolean; error?: { code: string } }>(seqd.url, 'POST', '/api/v1/sequence/next', { ...holder }, { 'idempotency-key': key });
  const trail = async (series: string) => (await http<{ events: Event[] }>(seqd.url, 'GET', `/api/v1/audit?series=${series}&order=asc&limit=1000`)).body.events;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'seqd-clock-'));
    clock = join(dir, 'clock');
    setClockFile(clock, at('YYYY-12-31T23:50:00Z'));
    const config = join(dir, 'seqd.yml');
    writeFileSync(config, 'sequence:\n  core:\n    reservation-timeout-seconds: 600\n  series:\n    rollover: { enabled: true, time-zone: UTC, close-after-seconds: 0, check-interval-seconds: 1 }\n');
    seqd = await spawnSeqd(['--config', config], { SEQ_DATA_DIR: join(dir, 'data'), ...jumpingClockEnv(clock) });
  });
  after(() => {
    seqd?.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the trail in time order, closes the year once, refuses a clock set back into it, and replays keys', async () => {
    const first = await next('k1');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.match(first.body.allocation, new RegExp(`@${Y}#`));

    // Back by half an hour: the next event is stamped no earlier than the last one.
    setClockFile(clock, at('YYYY-12-31T23:20:00Z'));
    assert.equal((await next('k2')).status, 200);
    const year = await trail(`global@${Y}`);
    const times = year.map((e) => Date.parse(e.timestamp));
    assert.ok(times.every((t, i) => i === 0 || t >= (times[i - 1] ?? 0)), `times went back: ${year.map((e) => e.timestamp).join(', ')}`);

    // Forward into the new year: numbering moves there, and the old year is closed (once).
    setClockFile(clock, at('NEXT-01-01T00:00:10Z'));
    const ny = await next('k3');
    assert.equal(ny.status, 200, JSON.stringify(ny.body));
    assert.match(ny.body.allocation, new RegExp(`@${Y + 1}#`));
    let closes: Event[] = [];
    for (let i = 0; i < 80 && closes.length === 0; i++) {
      await sleep(500);
      closes = (await trail(`global@${Y}`)).filter((e) => e.event === 'close');
    }
    assert.equal(closes.length, 1, 'the old year was closed by the rollover');

    // Back into the closed year (by more than the 60 s a period change tolerates): refused, not
    // numbered from a closed series, and not closed a second time.
    setClockFile(clock, at('YYYY-12-31T23:00:00Z'));
    const back = await next('k4');
    assert.equal(back.status, 409, JSON.stringify(back.body));
    assert.equal(back.body.error?.code, 'SERIES_CLOSED');

    // Forward again: numbering goes on in the new year, after the number already given there.
    setClockFile(clock, at('NEXT-01-01T00:05:00Z'));
    const later = await next('k5');
    assert.equal(later.status, 200, JSON.stringify(later.body));
    assert.ok((later.body.numbers[0] ?? 0) > (ny.body.numbers[0] ?? 0));
    await sleep(1500);
    assert.equal((await trail(`global@${Y}`)).filter((e) => e.event === 'close').length, 1, 'closed exactly once');
    const newYear = (await trail(`global@${Y + 1}`)).map((e) => Date.parse(e.timestamp));
    assert.ok(newYear.every((t, i) => i === 0 || t >= (newYear[i - 1] ?? 0)), 'the new year trail is in time order');

    // Keyed retries after all this: k3 (new year, within its reservation) is the same request,
    // replayed; k1's number expired when the clock went forward by more than the reservation
    // timeout (wall-clock expiry, as documented), so its retry is told so and gets nothing new.
    const again = await next('k3');
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body.numbers, ny.body.numbers);
    assert.equal(again.body.replayed, true);
    let expired = await next('k1');
    for (let i = 0; i < 40 && expired.status === 200; i++) {
      await sleep(500); // until the expiry sweep has run on the clock moved on
      expired = await next('k1');
    }
    assert.equal(expired.status, 409, JSON.stringify(expired.body));
    assert.equal(expired.body.error?.code, 'REPLAYED_NUMBERS_CHANGED');
    const verify = await http<{ valid: boolean }>(seqd.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body).slice(0, 1000));
  });
});
