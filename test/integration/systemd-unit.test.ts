import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config-loader.js';
import { startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { seqdCommand } from '../helpers/seqd-command.js';

const UNIT = fileURLToPath(new URL('../../deploy/systemd/seqd.service', import.meta.url));
const WAIT = fileURLToPath(new URL('../../deploy/systemd/wait-ready.mjs', import.meta.url));
const unit = readFileSync(UNIT, 'utf8');
const setting = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1] ?? '';
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('systemd unit (deploy/systemd/seqd.service)', () => {
  it('passes systemd-analyze verify without a warning', { skip: analyze ? false : 'systemd-analyze is not on this machine (the issue asks for it when available)' }, () => {
    const run = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    // Unknown keys and bad values are only warnings: any output is a defect.
    assert.equal(run.stderr.trim(), '');
  });

  it('runs seqd serve with options it has, hardened, and stops after the production drain', () => {
    assert.match(setting('ExecStart'), /dist\/cli\.js serve --profile production --config \S+$/);
    const help = spawnSync(process.execPath, [...seqdCommand(), 'serve', '--help'], { encoding: 'utf8' }).stdout;
    for (const flag of setting('ExecStart').match(/--[a-z-]+/g) ?? []) assert.ok(help.includes(flag), `serve has no ${flag}`);
    for (const hardening of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'DynamicUser=yes', 'StateDirectory=seqd']) assert.ok(unit.includes(hardening), hardening);
    const delayMs = loadConfig({ profile: 'production', env: { SEQD_API_KEYS: 'ops:admin:0123456789abcdef0123' }, overrides: { server: { tls: { cert: 'c', key: 'k' } } } }).config.server['shutdown-delay-ms'];
    assert.ok(Number(setting('TimeoutStopSec')) * 1000 > delayMs + 30_000, 'stop timeout covers the drain delay and the 30 s shutdown limit');
    assert.equal(setting('RestartPreventExitStatus'), '2 3', 'a bad configuration or a refused store is not restarted in a loop');
  });

  describe('its ready check (wait-ready.mjs)', () => {
    let s: TestServer;
    before(async () => {
      s = await startTestServer();
    });
    after(() => s?.dispose());

    it('returns once /ready answers 200, and fails when it never does', async () => {
      // Run asynchronously: the seqd it waits for lives in this process.
      const run = (env: Record<string, string>) =>
        new Promise<{ status: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [WAIT], { env: { ...process.env, ...env } });
          let stderr = '';
          child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
          child.on('close', (status) => resolve({ status, stderr }));
        });
      const ok = await run({ SEQD_READY_URL: `${s.url}/ready` });
      assert.equal(ok.status, 0, ok.stderr);
      const never = await run({ SEQD_READY_URL: 'http://127.0.0.1:9/ready', SEQD_READY_TIMEOUT_MS: '600' });
      assert.equal(never.status, 1);
      assert.match(never.stderr, /did not answer 200/);
    });
  });
});
