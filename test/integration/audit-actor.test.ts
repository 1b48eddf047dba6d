import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Etcd3 } from 'etcd3';
import { sha256Hex } from '../../src/security/api-keys.js';
import type { AuditEntry, AuditPage } from '../../src/service/service-api.js';
import { decodeAudit, encodeAudit, keys } from '../../src/storage/etcd/etcd-codec.js';
import { SQLITE_FILE } from '../../src/storage/sqlite/sqlite-store.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

const SECRETS = {
  a: 'billing-a-secret-0123456789abcdef',
  b: 'billing-b-secret-0123456789abcdef',
  ops: 'ops-secret-0123456789abcdef',
  peers: 'peers-secret-0123456789abcdef',
} as const;
const security = {
  'require-api-keys': true,
  'api-keys': [
    { name: 'billing-a', sha256: sha256Hex(SECRETS.a), roles: ['allocate', 'manage'] },
    { name: 'billing-b', sha256: sha256Hex(SECRETS.b), roles: ['allocate', 'manage'] },
    { name: 'ops', sha256: sha256Hex(SECRETS.ops), roles: ['admin'] },
    { name: 'peers', sha256: sha256Hex(SECRETS.peers), roles: ['internal'] },
  ],
};
const as = (secret: string) => ({ authorization: `Bearer ${secret}` });
const holder = { siteId: 'site-1', partitionId: 'partition-a' } as const;

interface Verify {
  valid: boolean;
  firstInvalidEvent: { seq: number; problem: string } | null;
}

/** Every event of a series, oldest first. */
async function trail(url: string, series: string, headers: Record<string, string> = {}): Promise<AuditEntry[]> {
  const page = await http<AuditPage>(url, 'GET', `/api/v1/audit?series=${encodeURIComponent(series)}&order=asc&limit=1000`, undefined, headers);
  assert.equal(page.status, 200, JSON.stringify(page.body));
  return page.body.events;
}

const take = async (url: string, secret: string, count = 1, key?: string) => {
  const r = await http<{ numbers: number[]; series: string; replayed?: boolean }>(url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count }, { ...as(secret), ...(key ? { 'idempotency-key': key } : {}) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};
const release = async (url: string, secret: string, sequenceNumber: number) => {
  const r = await http(url, 'POST', '/api/v1/sequence/release', { sequenceNumber, ...holder, reason: 'cancelled' }, as(secret));
  assert.equal(r.status, 200, JSON.stringify(r.body));
};

function assertNoSecret(text: string, where: string): void {
  for (const secret of Object.values(SECRETS)) assert.ok(!text.includes(secret), `${where} holds a key`);
}

describe('audit trail: who acted (API keys on, SQLite)', () => {
  let s: TestServer;
  const auth = as(SECRETS.ops);
  before(async () => {
    s = await startTestServer({ security });
  });
  after(() => s?.dispose());

  it('names the key of every request on its events, never the key itself', async () => {
    const got = await take(s.url, SECRETS.a, 3, 'order-1');
    assert.deepEqual([got.series, got.numbers], ['global', [1, 2, 3]]);
    await release(s.url, SECRETS.a, 1);
    await release(s.url, SECRETS.b, 2);
    const confirm = await http(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 3, ...holder }, as(SECRETS.b));
    assert.equal(confirm.status, 200);
    const setting = await http(s.url, 'PUT', '/api/v1/settings', { simulatedEnabled: false, reason: 'month end' }, auth);
    assert.equal(setting.status, 200);

    const events = await trail(s.url, 'global', auth);
    assert.deepEqual(
      events.map((e) => [e.event, e.first, e.actor]),
      [
        ['issue', 1, 'billing-a'],
        ['release', 1, 'billing-a'],
        ['release', 2, 'billing-b'],
        ['confirm', 3, 'billing-b'],
        ['setting', null, 'ops'],
      ],
    );
    assertNoSecret(JSON.stringify(events), 'the audit API');
    for (const file of [SQLITE_FILE, `${SQLITE_FILE}-wal`]) {
      const path = join(s.dataDir, file);
      if (existsSync(path)) assertNoSecret(readFileSync(path).toString('latin1'), `the stored ${file}`);
    }
    const verify = await http<Verify>(s.url, 'GET', '/api/v1/audit/verify?series=global', undefined, auth);
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
  });

  it('a retry with the same idempotency key by another key answers the original and writes nothing', async () => {
    const before = (await trail(s.url, 'global', auth)).length;
    // Number 1 and 2 were released since: the key's request no longer holds them (409); the
    // record is per key, whoever retries, and a retry never creates an event.
    const retry = await http<{ error: { code: string } }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 3 }, { ...as(SECRETS.b), 'idempotency-key': 'order-1' });
    assert.deepEqual([retry.status, retry.body.error.code], [409, 'REPLAYED_NUMBERS_CHANGED']);
    const fresh = await take(s.url, SECRETS.a, 1, 'order-2');
    const replay = await take(s.url, SECRETS.b, 1, 'order-2');
    assert.deepEqual([replay.numbers, replay.replayed], [fresh.numbers, true]);
    const events = await trail(s.url, 'global', auth);
    assert.equal(events.length, before + 1, 'only the first request of order-2 wrote an event');
    assert.equal(events[events.length - 1]?.actor, 'billing-a', 'the event names who made the request, not who retried it');
  });

  it('exports carry the actor as the last column (CSV) and as a key (NDJSON), and no key', async () => {
    const csv = await fetch(`${s.url}/api/v1/audit/export?format=csv&series=global`, { headers: auth });
    assert.equal(csv.status, 200);
    const text = await csv.text();
    assertNoSecret(text, 'the CSV export');
    const [header, ...rows] = text.trimEnd().split('\r\n');
    assert.equal(header?.split(',').at(-1), 'actor');
    assert.deepEqual(rows.map((r) => r.split(',').at(-1)), ['billing-a', 'billing-a', 'billing-b', 'billing-b', 'ops', 'billing-a']);

    const nd = await fetch(`${s.url}/api/v1/audit/export?format=ndjson&series=global`, { headers: auth });
    const lines = (await nd.text()).trimEnd().split('\n');
    assertNoSecret(lines.join('\n'), 'the NDJSON export');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { actor: string | null }).actor),
      ['billing-a', 'billing-a', 'billing-b', 'billing-b', 'ops', 'billing-a'],
    );
  });

  it('a forwarded op keeps the actor the peer sent; with any other key it acts as that key', async () => {
    const forward = (secret: string, actor: unknown) =>
      http<{ results?: unknown[]; error?: { field?: string } }>(s.url, 'POST', '/internal/v1/forward', { series: 'global', ops: [{ kind: 'allocate', ...holder, invoiceType: 'on-cycle', count: 1, actor }] }, as(secret));
    assert.equal((await forward(SECRETS.peers, 'billing-b')).status, 200);
    assert.equal((await trail(s.url, 'global', auth)).at(-1)?.actor, 'billing-b', 'the instance holding the internal key states the actor');
    // An admin key passes the route's check, but cannot put another key's name on its ops.
    assert.equal((await forward(SECRETS.ops, 'billing-b')).status, 200);
    assert.equal((await trail(s.url, 'global', auth)).at(-1)?.actor, 'ops');
    // No formula, space or control character gets into the trail (or a spreadsheet) this way.
    const bad = await forward(SECRETS.peers, '=HYPERLINK("x")');
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal((await http<Verify>(s.url, 'GET', '/api/v1/audit/verify?series=global', undefined, auth)).body.valid, true);
  });

  it('the hash covers the actor: editing or erasing it in SQLite makes verify name the event', async () => {
    const events = await trail(s.url, 'global', auth);
    const byB = events.find((e) => e.actor === 'billing-b');
    const byA = events.find((e) => e.actor === 'billing-a');
    assert.ok(byA && byB);
    const check = async (sql: string, seq: number) => {
      const db = new Database(join(s.dataDir, SQLITE_FILE));
      try {
        db.prepare(sql).run(seq);
      } finally {
        db.close();
      }
      return (await http<Verify>(s.url, 'GET', '/api/v1/audit/verify?series=global', undefined, auth)).body;
    };
    let r = await check("UPDATE events SET actor = 'billing-b' WHERE series = 'global' AND seq = ?", byA.seq);
    assert.deepEqual([r.valid, r.firstInvalidEvent?.seq], [false, byA.seq]);
    assert.match(r.firstInvalidEvent?.problem ?? '', /hash/);
    r = await check("UPDATE events SET actor = 'billing-a' WHERE series = 'global' AND seq = ?", byA.seq);
    assert.equal(r.valid, true, 'restored');
    r = await check("UPDATE events SET actor = NULL WHERE series = 'global' AND seq = ?", byB.seq);
    assert.deepEqual([r.valid, r.firstInvalidEvent?.seq], [false, byB.seq]);
  });
});

/** The hash of an event as seqd computed it before events recorded their actor. */
function hashBeforeActors(e: AuditEntry): string {
  const fields: unknown[] = [e.series, e.seq, Date.parse(e.timestamp), e.event, e.first, e.last, e.siteId, e.partitionId, e.invoiceType, e.reason, e.requestId, e.batchId, e.node, e.prevHash];
  if (e.allocation !== null) fields.push(e.allocation);
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

describe('audit trail with API keys off', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.dispose());

  it('records no actor, and hashes every event as before actors were recorded', async () => {
    const r = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 3 });
    assert.equal(r.status, 200);
    await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 1, ...holder, reason: 'cancelled' });
    await http(s.url, 'POST', '/api/v1/sequence/confirm', { sequenceNumber: 2, ...holder });
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'suppressed' });
    const events = await trail(s.url, 'global');
    assert.deepEqual(events.map((e) => e.event), ['issue', 'release', 'confirm', 'refill', 'release']);
    assert.ok(events.every((e) => 'actor' in e && e.actor === null), JSON.stringify(events));
    assert.deepEqual(events.map((e) => e.hash), events.map(hashBeforeActors));
    assert.equal((await http<Verify>(s.url, 'GET', '/api/v1/audit/verify')).body.valid, true);
  });
});

const MIDNIGHT = Date.parse('2026-12-31T23:00:00.000Z'); // 2027 in Paris
const rollover = { sequence: { series: { rollover: { enabled: true, 'time-zone': 'Europe/Paris', 'close-after-seconds': 60 } } } };

describe('audit trail: what seqd does by itself names a system actor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-actor-'));
  let clock = MIDNIGHT - 60_000;
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ ...rollover, security }, dir, { now: () => clock });
  });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('expiry, the close of an ended period and a setting from the configuration', async () => {
    const got = await take(s.url, SECRETS.a, 3);
    assert.equal(got.series, 'global@2026');
    await release(s.url, SECRETS.b, 2);
    clock += 10_000;
    const records = await s.service.store.lookupNumbers('global@2026', [1]);
    assert.equal((await s.service.expire('global@2026', [...records.values()], clock - 5_000, 5_000)).released, 1);
    clock = MIDNIGHT + 61_000;
    assert.deepEqual(await s.rollover?.tick(), ['global@2026']);
    const auth = as(SECRETS.ops);
    assert.deepEqual(
      (await trail(s.url, 'global@2026', auth)).map((e) => [e.event, e.first, e.reason === null ? null : e.reason.split(';')[0], e.actor]),
      [
        ['issue', 1, null, 'billing-a'],
        ['release', 2, 'cancelled', 'billing-b'],
        ['release', 1, 'expired', 'system:expiry'],
        ['void', 1, 'period 2026 ended', 'system:rollover'],
        ['void', 2, 'period 2026 ended', 'system:rollover'],
        ['close', 1, 'period 2026 ended', 'system:rollover'],
      ],
    );
    assert.equal((await http<Verify>(s.url, 'GET', '/api/v1/audit/verify?series=global@2026', undefined, auth)).body.valid, true);

    // A stored setting no operator made (no event: as an older seqd kept it), then a start with
    // simulated switched off in the configuration: seqd switches it and records the switch.
    await s.close();
    const db = new Database(join(dir, SQLITE_FILE));
    try {
      db.prepare("INSERT OR REPLACE INTO settings (key, value) VALUES ('simulatedEnabled', 'true')").run();
    } finally {
      db.close();
    }
    s = await startTestServer({ ...rollover, security, sequence: { ...rollover.sequence, 'invoice-types': { simulated: { enabled: false } } } }, dir, { now: () => clock });
    const settings = await trail(s.url, '_settings', auth);
    assert.deepEqual(settings.map((e) => [e.event, e.actor]), [['setting', 'system:config']]);
  });
});

const missing = etcdMissing();

describe('audit trail: who acted, on etcd', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let s: TestServer;
  before(async () => {
    tc = await startTestCluster();
    s = await startTestServer({ security, sequence: { storage: 'etcd', etcd: { embedded: false, endpoints: tc.cluster.endpoints } } });
  });
  after(async () => {
    await s?.dispose();
    await tc?.dispose();
  });

  it('keeps the actors, and verify names an event whose actor was edited in etcd', async () => {
    await take(s.url, SECRETS.a, 2);
    await release(s.url, SECRETS.b, 1);
    await take(s.url, SECRETS.b, 1);
    const auth = as(SECRETS.ops);
    assert.deepEqual((await trail(s.url, 'global', auth)).map((e) => [e.event, e.actor]), [
      ['issue', 'billing-a'],
      ['release', 'billing-b'],
      ['refill', 'billing-b'],
    ]);
    assert.equal((await http<Verify>(s.url, 'GET', '/api/v1/audit/verify?series=global', undefined, auth)).body.valid, true);

    const client = new Etcd3({ hosts: tc.cluster.endpoints.map((e) => e.replace(/^https?:\/\//, '')) });
    try {
      const res = await client.getAll().prefix(keys.auditPrefix('global').toString()).exec();
      const raw = res.kvs.map((kv) => kv.value.toString()).join('\n');
      assertNoSecret(raw, 'etcd');
      const kv = res.kvs.find((k) => decodeAudit(k.value).events.some((e) => e.seq === 2));
      assert.ok(kv, 'an audit record holds event 2');
      const events = decodeAudit(kv.value).events.map((e) => (e.seq === 2 ? { ...e, actor: 'billing-a' } : e));
      await client.put(kv.key).value(encodeAudit(events));
    } finally {
      client.close();
    }
    const r = (await http<Verify>(s.url, 'GET', '/api/v1/audit/verify?series=global', undefined, auth)).body;
    assert.deepEqual([r.valid, r.firstInvalidEvent?.seq], [false, 2]);
  });
});
