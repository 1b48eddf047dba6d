import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import { runCli } from '../helpers/cli.js';
import { http, startTestServer } from '../helpers/seqd-server.js';

const HOLDER = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };
const CSV = ['series,number,status,reason', 'global,500,last,', 'global,17,gap,voided in the old system', 'global,18,gap,voided in the old system', 'global,250,gap,"credit note, not reissued"', ''].join('\n');

describe('seqd import-legacy', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'seqd-import-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('starts where the legacy numbering left off: import, allocate, verify', async () => {
    const csv = file('legacy.csv', CSV);
    const data = join(dir, 'store');
    const r = await runCli(['import-legacy', csv, '--source', 'Old billing, export of 2026-11-30', '--data-dir', data]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /global: numbers 1\.\.500 imported \(3 known gaps void\); the next number is 501/);
    const server = await startTestServer({}, data);
    try {
      const next = await http<{ numbers: number[] }>(server.url, 'POST', '/api/v1/sequence/next', { ...HOLDER, count: 2 });
      assert.deepEqual(next.body.numbers, [501, 502]);
      const verify = await http<{ valid: boolean; continuity: { held: number; void: number } }>(server.url, 'GET', '/api/v1/audit/verify?series=global');
      assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
      assert.deepEqual([verify.body.continuity.held, verify.body.continuity.void], [499, 3], 'the imported range is accounted for by its event');
      const audit = await http<{ events: { event: string; first: number; last: number; reason: string; actor: string }[] }>(server.url, 'GET', '/api/v1/audit?series=global&event=import');
      const imported = audit.body.events[0];
      assert.deepEqual([imported?.first, imported?.last, imported?.actor], [1, 500, 'cli:import-legacy']);
      const sha = createHash('sha256').update(CSV).digest('hex');
      assert.ok(imported?.reason.includes(`sha256 ${sha}`), 'the import names its file checksum');
      assert.ok(imported?.reason.includes('Old billing, export of 2026-11-30'));
      const gaps = await http<{ gaps: { sequenceNumber: number; status: string; reason: string }[] }>(server.url, 'GET', '/api/v1/sequence/gaps?status=void');
      assert.deepEqual(gaps.body.gaps.map((g) => [g.sequenceNumber, g.reason]), [[17, 'legacy gap: voided in the old system'], [18, 'legacy gap: voided in the old system'], [250, 'legacy gap: credit note, not reissued']]);
      const released = await http<{ error: { code: string } }>(server.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 42, siteId: 'site-1', partitionId: 'partition-a', reason: 'x' });
      assert.equal(released.status >= 400, true, 'an imported number belongs to the legacy system: nobody here releases it');
    } finally {
      await server.close();
    }
    // Imported once: a second run finds the series started.
    const again = await runCli(['import-legacy', csv, '--source', 'again', '--data-dir', data]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /has issued numbers already/);
  });

  it('refuses a bad file with the line at fault, and imports nothing', async () => {
    const cases: [string, string, RegExp][] = [
      ['no header', 'global,500,last,\n', /header/],
      ['a gap above last', 'series,number,status,reason\nglobal,10,last,\nglobal,11,gap,x\n', /above its last number/],
      ['two last rows', 'series,number,status,reason\nglobal,10,last,\nglobal,12,last,\n', /line 3: .*second "last"/],
      ['an unknown status', 'series,number,status,reason\nglobal,10,issued,\n', /line 2: status "issued"/],
      ['not a number', 'series,number,status,reason\nglobal,1e3,last,\n', /line 2: "1e3" is not a whole number/],
      ['a gap without a reason', 'series,number,status,reason\nglobal,10,last,\nglobal,3,gap,\n', /line 3: a gap needs its reason/],
      ['gaps without last', 'series,number,status,reason\nglobal,3,gap,x\n', /no "last" row/],
      ['a gap listed twice', 'series,number,status,reason\nglobal,10,last,\nglobal,3,gap,x\nglobal,3,gap,y\n', /line 4: gap 3 of series global is listed twice/],
      ['a gap below the start', 'series,number,status,reason\nglobal,10,last,\nglobal,0,gap,x\n', /gap 0 is below the series start 1/],
      ['a series the configuration cannot produce', 'series,number,status,reason\nsite-1,10,last,\n', /not one the configured series split can produce/],
    ];
    for (const [what, text, message] of cases) {
      const data = join(dir, `bad-${what.replaceAll(' ', '-')}`);
      const r = await runCli(['import-legacy', file(`${what.replaceAll(' ', '-')}.csv`, text), '--source', 'test', '--data-dir', data]);
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      assert.match(r.stderr, message, what);
      const store = new SqliteStore({ dataDir: data });
      try {
        const s = await store.loadSeries('global', 1);
        assert.equal(s.eventSeq, 0, `${what}: nothing was written`);
      } finally {
        await store.close();
      }
    }
  });

  it('refuses a series of a site that is not configured: its printed numbers would escape the start-up check', async () => {
    const config = file('by-site.yml', 'sequence:\n  sites: [{ id: site-1, partitions: [partition-a] }]\n  series: { split-by: [site] }\n');
    const data = join(dir, 'by-site');
    const r = await runCli(['import-legacy', file('other-site.csv', 'series,number,status,reason\nsite-7,10,last,\n'), '--source', 'test', '--data-dir', data, '--config', config]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /series site-7 is not one of the configured sites/);
    const ok = await runCli(['import-legacy', file('own-site.csv', 'series,number,status,reason\nsite-1,10,last,\n'), '--source', 'test', '--data-dir', data, '--config', config]);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
