import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { sha256Hex } from '../../src/security/api-keys.js';
import { browserMissing } from '../helpers/browser.js';
import { openDashboardSession, type DashboardSession } from '../helpers/dashboard-session.js';
import { http } from '../helpers/seqd-server.js';
import type { SeqdProcess } from '../helpers/seqd-process.js';

const missing = browserMissing();
const KEY = 'dashboard-key-0123456789abcdef';
const HOSTILE = '<img src=x onerror="window.__pwned=1">&amp;<b>bold</b>';

// Keys enforced: the page asks for one; values from clients are shown as text, never as HTML.
describe('dashboard with API keys and hostile values (Chromium)', { skip: missing ?? false }, () => {
  let session: DashboardSession;
  let server: SeqdProcess;
  let page: Page;
  let pageErrors: string[] = [];

  before(async () => {
    session = await openDashboardSession(`security:\n  api-keys:\n    - { name: ops, sha256: ${sha256Hex(KEY)}, roles: [admin] }\n`);
    ({ server, page, errors: pageErrors } = session);
  });
  after(() => session?.dispose());

  it('asks for the key, then goes live with it', async () => {
    await page.goto(`${server.url}/dashboard`);
    await page.waitForSelector('#key-form:not([hidden])');
    assert.equal(await page.locator('#conn').textContent(), 'API key needed');
    await page.fill('#api-key', KEY);
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#conn.badge-ok', { timeout: 15_000 });
    assert.equal(await page.locator('#key-form').isHidden(), true);
  });

  it('shows a release reason and an idempotency key full of HTML as plain text', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const holder = { siteId: 'site-1', partitionId: 'partition-a' };
    const got = await http<{ numbers: number[] }>(server.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 2 }, { ...auth, 'idempotency-key': '<b>key</b>' });
    assert.equal(got.status, 200, JSON.stringify(got.body));
    const rel = await http(server.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 1, ...holder, reason: HOSTILE }, auth);
    assert.equal(rel.status, 200, JSON.stringify(rel.body));
    await page.waitForSelector('#gap-table tbody tr[data-number="1"]');
    const cell = page.locator('#gap-table tbody tr[data-number="1"] td').nth(2);
    assert.equal(await cell.textContent(), HOSTILE);
    await page.waitForFunction(() => document.querySelector('#audit-table tbody tr[data-event="release"]') !== null);
    // The audit table names the key that acted (its configured name, never the key).
    assert.equal(await page.locator('#audit-table thead th').nth(7).textContent(), 'Actor');
    assert.equal(await page.locator('#audit-table tbody tr[data-event="release"] td.actor').first().textContent(), 'ops');
    assert.equal(await page.locator('#audit-table tbody tr[data-event="issue"] td.actor').first().textContent(), 'ops');
    assert.ok(!(await page.locator('#audit-table').textContent())?.includes(KEY), 'the key itself is never shown');
    assert.equal(await page.locator('main img, main b').count(), 0, 'no element was made from the values');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? 0), 0);
    assert.deepEqual(pageErrors, []);
  });
});
