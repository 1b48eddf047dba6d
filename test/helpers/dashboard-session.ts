import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openDesktopPage } from './browser.js';
import { spawnSeqd, type SeqdProcess } from './seqd-process.js';

export interface DashboardSession {
  readonly server: SeqdProcess;
  readonly browser: Browser;
  readonly page: Page;
  /** Page and console errors seen so far. */
  readonly errors: string[];
  /** Stops the server (SIGTERM) and the browser, removes the data. */
  dispose(): Promise<void>;
}

/**
 * `seqd serve --profile poc` with `yaml` overlaid (as --config), on fresh data (or on what
 * `prepare` writes into the data directory first), and a desktop page.
 */
export async function openDashboardSession(yaml: string, prepare?: (dataDir: string) => Promise<void>): Promise<DashboardSession> {
  const dataDir = mkdtempSync(join(tmpdir(), 'seqd-e2e-'));
  const config = join(dataDir, 'extra.yml');
  writeFileSync(config, yaml);
  await prepare?.(dataDir);
  const server = await spawnSeqd(['--profile', 'poc', '--config', config], { SEQ_DATA_DIR: dataDir });
  const { browser, page, errors } = await openDesktopPage();
  return {
    server,
    browser,
    page,
    errors,
    dispose: async () => {
      server.child.kill('SIGTERM');
      await Promise.all([browser.close(), server.exited]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
