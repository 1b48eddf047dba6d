import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { browserMissing, openDesktopPage } from '../helpers/browser.js';
import { driveKeyedClients } from '../helpers/keyed-clients.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';

const holder = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
const missing = postgresMissing();

// A primary with a synchronous streaming standby (an acknowledged commit is on both), seqd with
// both in its URL. The primary dies under load from 16 clients, the standby is promoted (what
// Patroni or a managed PostgreSQL does), and seqd carries on on the new primary.
describe('PostgreSQL failover: kill -9 of the primary, promotion of the synchronous standby', { skip: missing ?? false, timeout: 120_000 }, () => {
  let primary: TestPostgres;
  let standby: TestPostgres;
  let s: TestServer;
  before(async () => {
    primary = await startTestPostgres();
    standby = await primary.startStandby('standby1');
    const admin = postgres(primary.url, { onnotice: () => undefined });
    await admin`ALTER SYSTEM SET synchronous_standby_names = 'standby1'`;
    await admin`SELECT pg_reload_conf()`;
    for (let i = 0; i < 100; i++) {
      const [row] = await admin`SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'standby1' AND sync_state = 'sync'`;
      if (row?.n === 1) break;
      await sleep(100);
    }
    await admin.end();
    const url = primary.url.replace(`127.0.0.1:${primary.port}`, `127.0.0.1:${primary.port},127.0.0.1:${standby.port}`);
    s = await startTestServer({ sequence: { storage: 'postgres', postgres: { url, 'pool-size': 8, 'statement-timeout-ms': 2000 } } });
  });
  after(async () => {
    await s?.dispose();
    await standby?.dispose();
    await primary?.dispose();
  });

  it('shows the primary, its synchronous standby and the lag in /ready, /metrics and the dashboard', async () => {
    await http(s.url, 'POST', '/api/v1/sequence/next', holder);
    const ready = await http<{ store: { replication: { primary: string; synchronousStandbyNames: string; standbys: { name: string; state: string; syncState: string; lagBytes: number }[] } } }>(s.url, 'GET', '/ready');
    const r = ready.body.store.replication;
    assert.equal(r.primary, `127.0.0.1:${primary.port}`);
    assert.equal(r.synchronousStandbyNames, 'standby1');
    assert.deepEqual(r.standbys.map((x) => [x.name, x.state, x.syncState]), [['standby1', 'streaming', 'sync']]);
    assert.equal(typeof r.standbys[0]?.lagBytes, 'number');
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /^seqd_postgres_up 1$/m);
    assert.match(metrics, /^seqd_postgres_sync_required 1$/m);
    const alerted = new Set(readFileSync('deploy/prometheus/seqd-alerts.yml', 'utf8').match(/\bseqd_postgres_[a-z_]+/g));
    assert.deepEqual([...alerted].filter((name) => !new RegExp(`^# TYPE ${name} `, 'm').test(metrics)), [], 'a PostgreSQL gauge an alert reads is not served');
    assert.match(metrics, /^seqd_postgres_sync_standbys 1$/m);
    assert.match(metrics, /^seqd_postgres_standby_streaming\{standby="standby1"\} 1$/m);
    assert.match(metrics, /^seqd_postgres_standby_synchronous\{standby="standby1"\} 1$/m);
    assert.match(metrics, /^seqd_postgres_replication_lag_bytes\{standby="standby1"\} \d+$/m);
    assert.match(metrics, /^seqd_postgres_replication_lag_seconds\{standby="standby1"\} [\d.e-]+$/m);
    if (browserMissing()) return;
    const { browser, page, errors } = await openDesktopPage();
    try {
      await page.goto(`${s.url}/dashboard`);
      const health = page.locator('#health-table');
      await health.getByText(`PostgreSQL primary`).waitFor({ timeout: 10_000 });
      const text = (await health.innerText()).replace(/\s+/g, ' ');
      assert.match(text, new RegExp(`PostgreSQL primary up 127\\.0\\.0\\.1:${primary.port} · PostgreSQL 15`));
      assert.match(text, /PostgreSQL standby standby1 up streaming · sync · lag \d/);
      assert.equal(await page.locator('#alerts').innerText(), '');
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });

  it('every acknowledged number is on the new primary exactly once, verify passes, no answered request is lost', async () => {
    let stop = false;
    const load = driveKeyedClients({ url: s.url, clients: 16, keyPrefix: 'failover', stop: () => stop, retryMs: 50 });
    await sleep(1500);
    primary.kill();
    standby.promote();
    await sleep(4000);
    stop = true;
    const t = await load;
    console.log(`# PostgreSQL failover: ${t.acknowledged.length} numbers acknowledged, ${t.failed} failed attempts (re-sent with their keys), longest client stall ${Math.round(t.stall)} ms`);
    assert.equal(new Set(t.acknowledged).size, t.acknowledged.length, 'a number was acknowledged twice');
    assert.ok(t.acknowledged.length > 100);
    const verify = await http<{ valid: boolean }>(s.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body).slice(0, 500));
    const ndjson = await (await fetch(`${s.url}/api/v1/audit/export?format=ndjson`)).text();
    const issued = new Map<number, number>();
    for (const line of ndjson.trim().split('\n')) {
      const e = JSON.parse(line) as { event: string; first: number; last: number };
      if (e.event === 'issue' || e.event === 'refill') for (let n = e.first; n <= e.last; n++) issued.set(n, (issued.get(n) ?? 0) + 1);
    }
    const lost = t.acknowledged.filter((n) => !issued.has(n));
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} acknowledged numbers are not on the new primary`);
    assert.deepEqual([...issued].filter(([, c]) => c > 1).slice(0, 5), [], 'a number issued twice in the trail');
  });
});
