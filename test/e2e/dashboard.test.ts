import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserMissing, openDesktopPage } from '../helpers/browser.js';
import { spawnSeqd, type SeqdProcess } from '../helpers/seqd-process.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

const missing = browserMissing();

describe('dashboard in a real browser (Chromium)', { skip: missing ?? false }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'seqd-e2e-'));
  let server: SeqdProcess;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[] = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await spawnSeqd(['--profile', 'poc'], { SEQ_DATA_DIR: dataDir });
    ({ browser, page, errors: pageErrors } = await openDesktopPage());
  });
  after(async () => {
    await browser?.close();
    server?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loads, goes live and builds the generate grid from the configuration', async () => {
    await page.goto(`${server.url}/dashboard`);
    await page.waitForSelector('#conn.badge-ok', { timeout: 15_000 });
    assert.equal(await page.locator('button.gen').count(), 2 * 2 * 4, 'sites × partitions × invoice types');
    assert.equal(await page.locator('#c-hwm').textContent(), '0');
  });

  it('a generate click shows the number and moves the counters', async () => {
    await page.click('button.gen[data-site="site-1"][data-partition="partition-a"][data-type="on-cycle"]');
    await page.waitForSelector('#last-numbers li[data-number="1"]');
    await page.fill('#gen-count', '3');
    await page.click('button.gen[data-site="site-2"][data-partition="partition-b"][data-type="off-cycle"]');
    await page.waitForSelector('#last-numbers li[data-number="2"]');
    assert.match((await page.locator('#last-numbers li').first().textContent()) ?? '', /2, 3, 4/);
    await page.waitForFunction(() => document.querySelector('#c-hwm')?.textContent === '4');
    await page.waitForFunction(() => document.querySelector('#c-issued')?.textContent === '4');
  });

  it('a released number appears in the gap report and disappears when refilled', async () => {
    await page.fill('#gen-count', '1');
    await page.fill('#rel-number', '3');
    await page.selectOption('#rel-site', 'site-2');
    await page.selectOption('#rel-partition', 'partition-b');
    await page.fill('#rel-reason', 'suppressed-bill');
    await page.click('#release-form button[type=submit]');
    await page.waitForSelector('#rel-result.ok');
    await page.waitForSelector('#gap-table tr[data-number="3"][data-status="open"]');
    await page.waitForFunction(() => document.querySelector('#c-open')?.textContent === '1');
    await page.click('button.gen[data-site="site-1"][data-partition="partition-b"][data-type="on-cycle"]');
    await page.waitForSelector('#last-numbers li[data-number="3"] .tag.refill');
    await page.waitForSelector('#gap-table tr[data-number="3"]', { state: 'detached' });
    await page.waitForFunction(() => document.querySelector('#c-refills')?.textContent === '1');
    await page.selectOption('#gap-view', 'refilled');
    await page.waitForSelector('#gap-table tr[data-number="3"][data-status="refilled"]');
    await page.selectOption('#gap-view', 'all');
  });

  it('a refused release shows the error from the API', async () => {
    await page.fill('#rel-number', '999');
    await page.click('#release-form button[type=submit]');
    await page.waitForSelector('#rel-result.bad');
    assert.match((await page.locator('#rel-result').textContent()) ?? '', /404 NUMBER_NOT_ISSUED/);
  });

  it('runs the gaps demo with its steps and verification', async () => {
    await page.click('#demo-gaps');
    await page.waitForSelector('#demo-output .checks');
    assert.match((await page.locator('#demo-output h3').first().textContent()) ?? '', /Gaps demo: verified/);
    assert.equal(await page.locator('#demo-output .check-bad').count(), 0);
    assert.ok((await page.locator('#demo-output .steps li').count()) >= 5);
  });

  it('filters the audit table and pages into history', async () => {
    await page.selectOption('#audit-filter select[name=event]', 'release');
    await page.click('#audit-filter button[type=submit]');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#audit-table tbody tr')];
      return rows.length > 0 && rows.every((r) => r.getAttribute('data-event') === 'release');
    });
    await page.fill('#audit-filter input[name=number]', '3');
    await page.selectOption('#audit-filter select[name=event]', '');
    await page.click('#audit-filter button[type=submit]');
    await page.waitForFunction(() => {
      const events = [...document.querySelectorAll('#audit-table tbody tr')].map((r) => r.getAttribute('data-event'));
      return events.join(',') === 'refill,release,issue';
    });
    await page.click('#audit-clear');
    await page.click('#verify-btn');
    await page.waitForSelector('#verify-result.ok');
  });

  it('draws the charts (non-empty canvases)', async () => {
    await page.waitForTimeout(1200);
    const painted = await page.evaluate(() =>
      ['#chart-timeline', '#chart-latency', '#chart-dist'].map((id) => {
        const canvas = document.querySelector<HTMLCanvasElement>(`${id} canvas`);
        if (!canvas) return 0;
        const ctx = canvas.getContext('2d');
        if (!ctx) return 0;
        const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if ((data[i] ?? 0) > 0) n++;
        return n;
      }),
    );
    assert.ok(painted.every((n) => n > 100), `painted pixels per chart: ${painted.join(', ')}`);
  });

  it('saves desktop and phone screenshots', async () => {
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-desktop.png'), fullPage: true });
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await phone.goto(`${server.url}/dashboard`);
    await phone.waitForSelector('#conn.badge-ok', { timeout: 15_000 });
    await phone.waitForTimeout(800);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow} px at 390 px`);
    await phone.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    await phone.close();
  });

  it('reconnects by itself after the server is killed and restarted', async () => {
    const port = new URL(server.url).port;
    server.child.kill('SIGKILL');
    await server.exited;
    await page.waitForSelector('#conn.badge-bad', { timeout: 10_000 });
    server = await spawnSeqd(['--profile', 'poc', '--port', port], { SEQ_DATA_DIR: dataDir });
    await page.waitForSelector('#conn.badge-ok', { timeout: 20_000 });
    await page.click('button.gen[data-site="site-1"][data-partition="partition-a"][data-type="on-cycle"]');
    await page.waitForFunction(() => Number(document.querySelector('#c-hwm')?.textContent?.replace(/,/g, '')) > 4);
    assert.deepEqual(pageErrors, []);
  });
});
