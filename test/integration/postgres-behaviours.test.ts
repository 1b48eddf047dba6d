import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { spawnSeqd } from '../helpers/seqd-process.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';

const holder = { siteId: 'site-1', partitionId: 'partition-a' };
const missing = postgresMissing();
const BEFORE = Date.parse('2026-12-31T23:59:00Z');
const AFTER = Date.parse('2027-01-01T00:10:00Z');

interface AuditEvent {
  event: string;
  first: number;
  last: number;
  reason: string | null;
}

/** Every event of a series, oldest first (audit export). */
async function trail(url: string, series = 'global'): Promise<AuditEvent[]> {
  const text = await (await fetch(`${url}/api/v1/audit/export?format=ndjson&series=${encodeURIComponent(series)}`)).text();
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent);
}

// What the other stores are tested for, on PostgreSQL: two instances sweeping and rolling over
// one database, tampering found by verify, kill -9 of seqd under load.
describe('seqd on PostgreSQL: expiry, rollover, tampering, crash', { skip: missing ?? false, timeout: 120_000 }, () => {
  let pg: TestPostgres;
  const servers: TestServer[] = [];
  const on = (schema: string, extra: Record<string, unknown> = {}) => ({ storage: 'postgres', postgres: { url: pg.url, schema, 'pool-size': 4 }, ...extra });
  before(async () => {
    pg = await startTestPostgres();
  });
  after(async () => {
    for (const s of servers) await s.dispose();
    await pg?.dispose();
  });
  const start = async (sequence: Record<string, unknown>, now?: () => number) => {
    const s = await startTestServer({ sequence }, undefined, now ? { now } : {});
    servers.push(s);
    return s;
  };

  it('two instances sweeping: each unconfirmed number expires exactly once', async () => {
    const sequence = on('expiry', { core: { 'reservation-timeout-seconds': 1 } });
    const a = await start(sequence);
    const b = await start(sequence);
    const got: number[] = [];
    for (let i = 0; i < 8; i++) got.push(...(await http<{ numbers: number[] }>(i % 2 ? a.url : b.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' })).body.numbers);
    const confirmed = got.slice(0, 3);
    for (const n of confirmed) assert.equal((await http(a.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: n, ...holder })).status, 200);
    const shouldExpire = got.slice(3);
    const expired = async () => (await trail(a.url)).filter((e) => e.event === 'release' && e.reason === 'expired').map((e) => e.first);
    for (let i = 0; i < 100 && (await expired()).length < shouldExpire.length; i++) await sleep(100);
    await sleep(1500);
    assert.deepEqual((await expired()).sort((x, y) => x - y), shouldExpire);
    assert.equal((await http<{ valid: boolean }>(b.url, 'GET', '/api/v1/audit/verify')).body.valid, true);
  });

  it('two instances rolling over: the ended year is closed exactly once', async () => {
    let clock = BEFORE;
    const sequence = on('rollover', { series: { 'split-by': ['site'], rollover: { enabled: true, 'close-after-seconds': 60 } } });
    const a = await start(sequence, () => clock);
    const b = await start(sequence, () => clock);
    const next = (url: string) => http<{ series: string; numbers: number[] }>(url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' });
    assert.equal((await next(a.url)).body.series, 'site-1@2026');
    await next(b.url);
    clock = AFTER;
    assert.equal((await next(b.url)).body.series, 'site-1@2027');
    const closed = await Promise.all([a.rollover?.tick(), b.rollover?.tick()]);
    assert.deepEqual(closed.flat(), ['site-1@2026'], 'one instance closed it, the other found it closed');
    assert.equal((await trail(a.url, 'site-1@2026')).filter((e) => e.event === 'close').length, 1);
    assert.equal((await http<{ valid: boolean }>(b.url, 'GET', '/api/v1/audit/verify')).body.valid, true);
  });

  it('verify finds an event edited straight in the database', async () => {
    const s = await start(on('tamper'));
    for (let i = 0; i < 6; i++) await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 2 });
    assert.equal((await http<{ valid: boolean }>(s.url, 'GET', '/api/v1/audit/verify')).body.valid, true);
    const sql = postgres(pg.url, { onnotice: () => undefined });
    await sql`UPDATE tamper.events SET site_id = 'site-2' WHERE series = 'global' AND seq = 3`;
    await sql.end();
    const r = await http<{ valid: boolean; firstInvalidEvent: { seq: number; problem: string } | null }>(s.url, 'GET', '/api/v1/audit/verify');
    assert.equal(r.body.valid, false);
    assert.equal(r.body.firstInvalidEvent?.seq, 3);
    assert.match(r.body.firstInvalidEvent?.problem ?? '', /hash/);
  });

  it('kill -9 of seqd under load from 16 clients: every acknowledged number is there after the restart, the HWM never goes back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-pg-crash-'));
    const config = join(dir, 'pg.yml');
    writeFileSync(config, 'sequence:\n  storage: postgres\n  postgres:\n    schema: crash\n');
    const env = { SEQ_DATA_DIR: join(dir, 'data'), SEQ_PROFILE: 'poc', SEQ_POSTGRES_URL: pg.url };
    try {
      const first = await spawnSeqd(['--config', config], env);
      const acked: number[] = [];
      let killed = false;
      const client = async () => {
        while (!killed) {
          const r = await http<{ numbers: number[] }>(first.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle' }).catch(() => null);
          if (r?.status === 200 && !killed) acked.push(...r.body.numbers);
        }
      };
      const load = Promise.all(Array.from({ length: 16 }, () => client()));
      await sleep(1500);
      first.child.kill('SIGKILL');
      killed = true;
      await first.exited;
      await load;
      const second = await spawnSeqd(['--config', config], env);
      try {
        const stats = await http<{ highWaterMark: number }>(second.url, 'GET', '/api/v1/sequence/stats');
        console.log(`# PostgreSQL crash: ${acked.length} numbers acknowledged before kill -9; HWM after restart ${stats.body.highWaterMark}`);
        assert.ok(acked.length > 50);
        assert.ok(stats.body.highWaterMark >= Math.max(...acked), 'the HWM went back');
        const issued = new Set<number>();
        for (const e of await trail(second.url)) if (e.event === 'issue') for (let n = e.first; n <= e.last; n++) issued.add(n);
        const lost = acked.filter((n) => !issued.has(n));
        assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged numbers lost`);
        assert.equal((await http<{ valid: boolean }>(second.url, 'GET', '/api/v1/audit/verify')).body.valid, true);
      } finally {
        second.child.kill('SIGKILL');
        await second.exited;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
