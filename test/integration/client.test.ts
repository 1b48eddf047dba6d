import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { SeqdApiError, SeqdClient } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { seqdCommand } from '../helpers/seqd-command.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const exec = promisify(execFile);
/** The real CLI from source; resolves with stdout, stderr and the exit code. */
async function cli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await exec(process.execPath, [...seqdCommand(), ...args], { cwd: ROOT });
    return { ...r, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

// A port nothing listens on: the client must move on to the next instance.
const DEAD = 'http://127.0.0.1:9';
const holder = { siteId: 'site-1', partitionId: 'partition-a' } as const;

describe('seqd/client and the CLI verbs', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => s.dispose());

  it('fails over past a dead instance, and a retried next with its key gets the same numbers', async () => {
    const client = new SeqdClient({ urls: [DEAD, s.url], timeoutMs: 2000 });
    const first = await client.next({ ...holder, invoiceType: 'on-cycle', count: 2, idempotencyKey: 'sdk-1' });
    const again = await client.next({ ...holder, invoiceType: 'on-cycle', count: 2, idempotencyKey: 'sdk-1' });
    assert.deepEqual(again.numbers, first.numbers);
    assert.equal(again.replayed, true);
    const plain = await client.next({ ...holder, invoiceType: 'on-cycle' });
    assert.equal(plain.numbers[0], (first.numbers[1] ?? 0) + 1, 'a generated key still takes a new number');
    const c = await client.confirm({ sequenceNumber: plain.sequenceNumber, ...holder });
    assert.equal(c.status, 'confirmed');
    const open = await client.series({ status: 'open', limit: 1 });
    assert.deepEqual([open.series.map((x) => x.name), open.count, open.truncated], [['global'], 1, false]);
    assert.deepEqual((await client.series({ status: 'closed' })).series, []);
    assert.deepEqual(((await client.stats('closed')) as { series: unknown[] }).series, [], 'the stats name only closed series');
    await assert.rejects(
      client.release({ sequenceNumber: plain.sequenceNumber, ...holder, reason: 'x' }),
      (e: unknown) => e instanceof SeqdApiError && e.code === 'NUMBER_CONFIRMED' && e.status === 409 && !e.retryable,
    );
    assert.equal((await client.verify()).valid, true);
  });

  it('reports UNREACHABLE when no instance answers', async () => {
    const client = new SeqdClient({ urls: [DEAD], attempts: 2, timeoutMs: 500 });
    await assert.rejects(client.stats(), (e: unknown) => e instanceof SeqdApiError && e.code === 'UNREACHABLE' && e.retryable);
  });

  it('runs next, release, confirm, stats, gaps and audit verify/export from the shell', async () => {
    const url = ['--url', DEAD, '--url', s.url];
    const next = await cli(['next', ...url, '--site', 'site-1', '--partition', 'partition-a', '--count', '3', '--key', 'cli-1', '--json']);
    assert.equal(next.code, 0, next.stderr);
    const numbers = (JSON.parse(next.stdout) as { numbers: number[] }).numbers;
    assert.equal(numbers.length, 3);
    const repeat = await cli(['next', ...url, '--site', 'site-1', '--partition', 'partition-a', '--count', '3', '--key', 'cli-1']);
    assert.match(repeat.stdout, new RegExp(`^global: ${numbers.join(', ')}  \\(repeat of an earlier request\\)`));
    const rel = await cli(['release', String(numbers[0]), ...url, '--site', 'site-1', '--partition', 'partition-a', '--reason', 'cancelled']);
    assert.equal(rel.stdout.trim(), `global: ${numbers[0]}: open`);
    const conf = await cli(['confirm', String(numbers[1]), ...url, '--site', 'site-1', '--partition', 'partition-a', '--series', 'global']);
    assert.equal(conf.stdout.trim(), `global: ${numbers[1]}: confirmed`);
    const nowhere = await cli(['confirm', String(numbers[1]), ...url, '--site', 'site-1', '--partition', 'partition-a', '--series', 'global@1999']);
    assert.equal(nowhere.code, 4, 'refused by the server');
    assert.match(nowhere.stderr, /SERIES_NOT_FOUND/);
    assert.match((await cli(['series', ...url])).stdout, /^global\topen\tHWM \d+/m);
    const refused = await cli(['release', String(numbers[1]), ...url, '--site', 'site-1', '--partition', 'partition-a', '--reason', 'x']);
    assert.equal(refused.code, 4, 'refused by the server');
    assert.match(refused.stderr, /NUMBER_CONFIRMED/);
    assert.match((await cli(['stats', ...url])).stdout, /high-water mark \d+/);
    assert.match((await cli(['gaps', ...url, '--status', 'open', '--series', 'global'])).stdout, new RegExp(`^${numbers[0]}\\topen\\tsite-1\\tcancelled`, 'm'));
    const verify = await cli(['audit', 'verify', ...url]);
    assert.equal(verify.code, 0);
    assert.match(verify.stdout, /^valid: \d+ events \(1 series\)/);
    assert.match((await cli(['audit', 'verify', ...url, '--series', 'global'])).stdout, /^valid: \d+ events \(global\)/);
    const dir = mkdtempSync(join(tmpdir(), 'seqd-cli-'));
    try {
      const file = join(dir, 'audit.csv');
      const exp = await cli(['audit', 'export', ...url, '--format', 'csv', '--out', file, '--series', 'global']);
      assert.equal(exp.code, 0, exp.stderr);
      const lines = readFileSync(file, 'utf8').trim().split('\r\n');
      assert.equal(lines[0]?.split(',')[0], 'seq');
      assert.ok(lines.length > 3);
      assert.match(exp.stderr, /written: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
