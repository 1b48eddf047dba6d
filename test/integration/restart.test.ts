import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../../src/domain/errors/index.js';
import { http, startTestServer } from '../helpers/seqd-server.js';
import { spawnSeqd } from '../helpers/seqd-process.js';

const body = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };

describe('restarts and start-up configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-restart-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('continues the series after a clean restart', async () => {
    const a = await startTestServer({}, dir);
    await http(a.url, 'POST', '/api/v1/sequence/next', { ...body, count: 5 });
    await a.close();
    const b = await startTestServer({}, dir);
    const r = await http<{ numbers: number[] }>(b.url, 'POST', '/api/v1/sequence/next', body);
    assert.deepEqual(r.body.numbers, [6]);
    await b.close();
  });

  it('refuses to move the start of a series that has issued numbers, naming the key', async () => {
    await assert.rejects(
      startTestServer({ sequence: { core: { 'global-counter-start': 100 } } }, dir),
      (e: unknown) => e instanceof ConfigError && e.key === 'sequence.core.global-counter-start',
    );
  });

  it('starts a new series at the configured number', async () => {
    const s = await startTestServer({ sequence: { core: { 'global-counter-start': 1000 } } });
    const r = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', body);
    assert.deepEqual(r.body.numbers, [1000]);
    await s.dispose();
  });

  it('with gap recovery off, released numbers become void and are never reused', async () => {
    const s = await startTestServer({ sequence: { core: { 'gap-recovery-enabled': false } } });
    await http(s.url, 'POST', '/api/v1/sequence/next', { ...body, count: 3 });
    const rel = await http<{ status: string }>(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 2, siteId: 'site-1', partitionId: 'partition-a', reason: 'cancelled' });
    assert.equal(rel.body.status, 'void');
    const next = await http<{ numbers: number[]; refilled: number[] }>(s.url, 'POST', '/api/v1/sequence/next', body);
    assert.deepEqual([next.body.numbers, next.body.refilled], [[4], []]);
    const gaps = await http<{ gaps: { sequenceNumber: number; status: string; reason: string }[] }>(s.url, 'GET', '/api/v1/sequence/gaps');
    assert.deepEqual(gaps.body.gaps.map((g) => [g.sequenceNumber, g.status, g.reason]), [[2, 'void', 'cancelled']]);
    const verify = await http<{ valid: boolean; continuity: { void: number } }>(s.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true);
    assert.equal(verify.body.continuity.void, 1);
    await s.dispose();
  });

  it('the CLI stops with the key named when configuration is invalid', async () => {
    await assert.rejects(spawnSeqd([], { SEQ_DATA_DIR: dir, SEQ_PROFILE: 'no-such-profile' }), /invalid configuration: profile/);
    const bad = join(dir, 'bad.yml');
    (await import('node:fs')).writeFileSync(bad, 'sequence:\n  core:\n    max-count: 0\n');
    await assert.rejects(spawnSeqd(['--config', bad], { SEQ_DATA_DIR: dir }), /sequence\.core\.max-count/);
  });
});
