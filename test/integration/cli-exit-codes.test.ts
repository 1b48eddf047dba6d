import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SQLITE_FILE } from '../../src/storage/sqlite/sqlite-store.js';
import { runCli as cli } from '../helpers/cli.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';

/** One line on stderr, no stack trace. */
function oneLine(stderr: string): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0] ?? '', /^seqd: /);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

const DEAD = 'http://127.0.0.1:9';
const held = ['--site', 'site-1', '--partition', 'partition-a'];

// Issue 13 (minor): the CLI exited 1 for everything, and `audit export --out` left partial or empty
// files behind and crashed on an unwritable path.
describe('CLI exit codes', () => {
  let s: TestServer;
  let broken: Server;
  let brokenUrl = '';
  let dir = '';
  before(async () => {
    s = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), 'seqd-cli-exit-'));
    // A server answering 500 in seqd's error shape: the CLI must say "server error", not "refused".
    broken = createServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'INTERNAL', message: 'internal error; see the server log' } }));
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    const address = broken.address();
    brokenUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await s.dispose();
    await new Promise((resolve) => broken.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('0 done, 2 usage, 3 unreachable, 4 refused, 5 server error', async () => {
    const url = ['--url', s.url];
    const got = await cli(['next', ...url, ...held, '--json']);
    assert.equal(got.code, 0, got.stderr);
    const n = (JSON.parse(got.stdout) as { sequenceNumber: number }).sequenceNumber;

    for (const args of [['next', ...url], ['release', 'abc', ...url, ...held, '--reason', 'x'], ['gaps', ...url, '--status', 'closed'], ['stats', '--url', 'localhost:8080'], ['no-such-verb']]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    const unreachable = await cli(['stats', '--url', DEAD]);
    assert.equal(unreachable.code, 3, unreachable.stderr);
    oneLine(unreachable.stderr);

    assert.equal((await cli(['confirm', String(n), ...url, ...held])).code, 0);
    const refused = await cli(['release', String(n), ...url, ...held, '--reason', 'x']);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /^seqd: NUMBER_CONFIRMED: /);
    const refusedJson = await cli(['release', String(n), ...url, ...held, '--reason', 'x', '--json']);
    assert.equal(refusedJson.code, 4);
    assert.equal((JSON.parse(refusedJson.stdout) as { error: { code: string } }).error.code, 'NUMBER_CONFIRMED');

    const failed = await cli(['stats', '--url', brokenUrl]);
    assert.equal(failed.code, 5, failed.stderr);
    oneLine(failed.stderr);
  });

  it('--help lists the exit codes', async () => {
    for (const args of [['--help'], ['audit', 'export', '--help']]) {
      const help = await cli(args);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Exit codes/);
      assert.match(help.stdout, /4 {2}refused by the server/);
    }
  });

  it('audit export --out: whole file or none; an unwritable --out is one line, exit 2', async () => {
    const url = ['--url', s.url];
    const file = join(dir, 'audit.csv');
    const ok = await cli(['audit', 'export', ...url, '--out', file]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(readFileSync(file, 'utf8'), /^seq,timestamp,/);
    assert.deepEqual(readdirSync(dir), ['audit.csv'], 'no temporary file left');

    // Refused by the server: the earlier export stays as it was, nothing new is left behind.
    writeFileSync(file, 'previous export');
    const badTime = await cli(['audit', 'export', ...url, '--out', file, '--from', '2026-02-30T00:00:00Z']);
    assert.equal(badTime.code, 4, badTime.stderr);
    oneLine(badTime.stderr);
    const fresh = join(dir, 'fresh.csv');
    const down = await cli(['audit', 'export', '--url', DEAD, '--out', fresh]);
    assert.equal(down.code, 3, down.stderr);
    assert.equal(readFileSync(file, 'utf8'), 'previous export');
    assert.deepEqual(readdirSync(dir), ['audit.csv'], 'no empty or partial file');

    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    for (const out of [join(dir, 'missing', 'audit.csv'), sub]) {
      const r = await cli(['audit', 'export', ...url, '--out', out]);
      assert.equal(r.code, 2, `${out}: ${r.stderr}`);
      oneLine(r.stderr);
      assert.match(r.stderr, new RegExp(`cannot write ${out.replaceAll('/', '\\/')}: `));
    }
    assert.deepEqual(readdirSync(dir).sort(), ['a-directory', 'audit.csv']);
    assert.deepEqual(readdirSync(sub), []);
  });

  it('1 when audit verify finds the trail invalid', async () => {
    const t = await startTestServer();
    try {
      await http(t.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 2 });
      const valid = await cli(['audit', 'verify', '--url', t.url]);
      assert.equal(valid.code, 0, valid.stderr);
      const db = new Database(join(t.dataDir, SQLITE_FILE));
      try {
        db.prepare("UPDATE events SET site_id = 'site-2' WHERE seq = 1").run();
      } finally {
        db.close();
      }
      const invalid = await cli(['audit', 'verify', '--url', t.url, '--series', 'global']);
      assert.equal(invalid.code, 1, invalid.stdout + invalid.stderr);
      assert.match(invalid.stdout, /^INVALID: /);
    } finally {
      await t.dispose();
    }
  });
});
