import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

const simulated = (enabled: boolean) => ({ sequence: { 'invoice-types': { simulated: { enabled } } } });
const settings = async (s: TestServer) => (await http<{ simulatedEnabled: boolean }>(s.url, 'GET', '/api/v1/settings')).body.simulatedEnabled;

// Two instances on one SQLite file (issue 12, item 9): a toggle made on one is seen by the
// other, and a restart does not undo an operator's switch with the configured value.
describe('settings across instances and restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-settings-'));
  const running: TestServer[] = [];
  after(async () => {
    for (const s of running) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (enabled: boolean) => {
    const s = await startTestServer(simulated(enabled), dir);
    running.push(s);
    return s;
  };

  it('a toggle on one instance takes effect on the other within seconds', async () => {
    const a = await start(true);
    const b = await start(true);
    const put = await http(a.url, 'PUT', '/api/v1/settings', { simulatedEnabled: false, reason: 'month-end freeze' });
    assert.equal(put.status, 200);
    let seen = true;
    for (let i = 0; i < 50 && seen; i++) {
      seen = await settings(b);
      if (seen) await sleep(100);
    }
    assert.equal(seen, false, 'b still allows simulated invoices');
    const refused = await http<{ error: { code: string } }>(b.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'simulated' });
    assert.equal(refused.body.error.code, 'INVOICE_TYPE_DISABLED');
  });

  it("a restart keeps an operator's switch over the configured value, and says so; without one the configuration applies", async () => {
    for (const s of running.splice(0)) await s.close();
    const again = await start(true);
    assert.equal(await settings(again), false, "the operator's switch-off survives a restart with enabled: true configured");
    assert.match(again.service.settingsKept ?? '', /simulated stays off: .*month-end freeze.*configuration says on/);
    // Another store where nobody switched it by hand: the configuration decides at each start.
    const other = mkdtempSync(join(tmpdir(), 'seqd-settings-cfg-'));
    try {
      for (const enabled of [false, true, false]) {
        const s = await startTestServer(simulated(enabled), other);
        assert.equal(await settings(s), enabled);
        await s.close();
      }
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
