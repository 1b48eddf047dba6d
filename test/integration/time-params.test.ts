import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type ErrorBody, type TestServer } from '../helpers/seqd-server.js';

// Issue 13 (minor): `from`/`to` took zone-less times (read in the server's zone) and impossible
// dates (2026-02-30 became 2 March). Only RFC 3339 date-times with a zone are accepted.
describe('from and to are RFC 3339 date-times with a zone', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
    await http(s.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' });
  });
  after(async () => s.dispose());

  const refused = [
    '2026-01-31T12:00:00', // no zone
    '2026-01-31 12:00:00Z', // not RFC 3339's T
    '2026-02-30T00:00:00Z', // no 30 February
    '2025-02-29T00:00:00Z', // 2025 is not a leap year
    '2026-13-01T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-01-31T24:00:00Z',
    '2026-01-31T12:60:00Z',
    '2026-01-31T12:00:00+25:00',
    '2026-01-31', // a plain date: which zone's midnight? (not documented as accepted)
    '2026-02-30',
    'Sat, 31 Jan 2026 12:00:00 GMT',
    '1769860800000',
  ];
  for (const path of ['/api/v1/audit', '/api/v1/audit/export']) {
    for (const field of ['from', 'to']) {
      it(`${path}: refuses ${field} values that are not RFC 3339 with a zone`, async () => {
        for (const value of refused) {
          const r = await http<ErrorBody>(s.url, 'GET', `${path}?${field}=${encodeURIComponent(value)}`);
          assert.equal(r.status, 400, `${field}=${value}`);
          assert.equal(r.body.error.code, 'VALIDATION_ERROR');
          assert.equal(r.body.error.field, field, value);
          assert.match(r.body.error.message, new RegExp(`^${field} `), value);
        }
      });
    }
  }

  it('accepts Z, offsets, lower case and fractions, and leap days', async () => {
    for (const value of ['2026-01-31T12:00:00Z', '2026-01-31T13:00:00+01:00', '2026-01-31t12:00:00.123456z', '2024-02-29T00:00:00-05:30', '2026-12-31T23:59:59.9Z']) {
      const r = await http(s.url, 'GET', `/api/v1/audit?from=${encodeURIComponent(value)}`);
      assert.equal(r.status, 200, `${value}: ${JSON.stringify(r.body)}`);
      const e = await fetch(`${s.url}/api/v1/audit/export?to=${encodeURIComponent(value)}`);
      assert.equal(e.status, 200, value);
      await e.text();
    }
  });

  it('applies the offset: the same instant written two ways selects the same events', async () => {
    const all = await http<{ events: { timestamp: string }[] }>(s.url, 'GET', '/api/v1/audit?order=asc');
    const ts = all.body.events[0]?.timestamp ?? '';
    const ms = Date.parse(ts);
    // One hour east of UTC: the wall clock reads an hour later for the same instant.
    const east = new Date(ms + 3600_000).toISOString().replace('Z', '+01:00');
    const a = await http<{ count: number }>(s.url, 'GET', `/api/v1/audit?from=${encodeURIComponent(ts)}`);
    const b = await http<{ count: number }>(s.url, 'GET', `/api/v1/audit?from=${encodeURIComponent(east)}`);
    assert.equal(a.body.count, b.body.count);
    assert.ok(a.body.count >= 1);
  });
});
