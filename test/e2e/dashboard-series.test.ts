import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { browserMissing } from '../helpers/browser.js';
import { openDashboardSession, type DashboardSession } from '../helpers/dashboard-session.js';
import { http } from '../helpers/seqd-server.js';
import type { SeqdProcess } from '../helpers/seqd-process.js';
import { writeClosedSeries } from '../helpers/closed-series-data.js';

const missing = browserMissing();

// Series split by site: the dashboard shows one series at a time and follows the picker.
describe('dashboard with series split by site (Chromium)', { skip: missing ?? false }, () => {
  let session: DashboardSession;
  let server: SeqdProcess;
  let page: Page;
  let pageErrors: string[] = [];

  before(async () => {
    session = await openDashboardSession('sequence:\n  series:\n    split-by: [site]\n');
    ({ server, page, errors: pageErrors } = session);
  });
  after(() => session?.dispose());

  it('switches counters, gap report, audit and verify to the picked series', async () => {
    const take = (siteId: string, count: number) =>
      http(server.url, 'POST', '/api/v1/sequence/next', { siteId, partitionId: 'partition-a', invoiceType: 'on-cycle', count });
    await take('site-1', 2);
    await take('site-2', 5);
    await http(server.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 3, siteId: 'site-2', partitionId: 'partition-a', reason: 'cancelled' });
    await page.goto(`${server.url}/dashboard`);
    await page.waitForSelector('#conn.badge-ok', { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelector('#c-hwm')?.textContent === '2');
    assert.match((await page.locator('#series-select option:checked').textContent()) ?? '', /site-1 \(current\)/);
    await page.selectOption('#series-select', 'site-2');
    await page.waitForFunction(() => document.querySelector('#c-hwm')?.textContent === '5');
    await page.waitForSelector('#gap-table tbody tr[data-number="3"][data-status="open"]');
    await page.waitForFunction(() => document.querySelector('#audit-table tbody tr[data-event="release"]') !== null);
    await page.click('#verify-btn');
    await page.waitForSelector('#verify-result.ok');
    assert.match((await page.locator('#verify-result').textContent()) ?? '', /^site-2: valid/);
    // A release from the form names the series explicitly.
    await page.fill('#rel-number', '4');
    await page.selectOption('#rel-site', 'site-2');
    await page.fill('#rel-series', 'site-2');
    await page.click('#release-form button[type=submit]');
    await page.waitForSelector('#rel-result.ok');
    assert.match((await page.locator('#rel-result').textContent()) ?? '', /^site-2: number 4 released: open gap/);
    await page.waitForSelector('#gap-table tbody tr[data-number="4"]');
    // A number taken from the page names its series.
    await page.click('button.gen[data-site="site-1"][data-partition="partition-b"][data-type="off-cycle"]');
    await page.waitForSelector('#last-numbers li[data-number="3"]');
    assert.match((await page.locator('#last-numbers li').first().textContent()) ?? '', /site-1 · site-1 \/ partition-b \/ off-cycle/);
    assert.deepEqual(pageErrors, []);
  });
});

// Issue 18 (many series): snapshots carry live series only; the page reads series closed before
// the live window (35 days) from the series list, for its picker and their final figures.
describe('dashboard with a series closed long ago (Chromium)', { skip: missing ?? false }, () => {
  let session: DashboardSession;

  before(async () => {
    const yaml = 'sequence:\n  series:\n    split-by: [site]\n    rollover: { enabled: true, time-zone: UTC }\n';
    session = await openDashboardSession(yaml, (dir) => writeClosedSeries(dir, { series: 'site-2@2024', siteId: 'site-2', count: 7, closedAt: Date.parse('2025-01-01T00:05:00Z') }));
  });
  after(() => session?.dispose());

  it('lists it in the picker and shows its final figures, though no snapshot carries it', async () => {
    const { server, page, errors } = session;
    await http(server.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 2 });
    await page.goto(`${server.url}/dashboard`);
    await page.waitForSelector('#conn.badge-ok', { timeout: 15_000 });
    await page.waitForSelector('#series-select option[value="site-2@2024"]', { state: 'attached' });
    await page.selectOption('#series-select', 'site-2@2024');
    await page.waitForFunction(() => document.querySelector('#c-hwm')?.textContent === '7');
    assert.match((await page.locator('#series-meta').textContent()) ?? '', /closed \(its period ended\): final figures/);
    assert.deepEqual(errors, []);
  });
});
