/**
 * Runs the built container image the way a runtime would: its own entrypoint and command, its
 * user, its environment, the data volume mounted, SIGTERM to its PID 1. Started by
 * scripts/image-test.sh after the build (IMAGE names the image); not part of `npm test`.
 * `buildah run --isolation chroot` shares the host's network, so the API is on a host port.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { freePortBase } from '../helpers/etcd-cluster.js';
import { http } from '../helpers/seqd-server.js';

const IMAGE = process.env.IMAGE ?? 'localhost/seqd:0.1.0';
const KEY = 'image-test-key-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };
const NEXT = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 };
const SEQD_UID = 10001;

interface ImageConfig {
  User: string;
  Entrypoint: string[];
  Cmd: string[];
  Env: string[];
  Volumes: Record<string, unknown> | null;
  Labels: Record<string, string> | null;
  StopSignal: string;
  Healthcheck?: { Test: string[] };
}

const buildah = (...args: string[]) => execFileSync('buildah', args, { encoding: 'utf8' }).trim();

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

describe(`container image ${IMAGE}`, { timeout: 240_000 }, () => {
  let config: ImageConfig;
  let ctr: string;
  let root: string;
  let data: string;
  let port: number;
  let url: string;
  let run: Running;
  const marker = join(tmpdir(), `seqd-image-marker-${process.pid}`);
  const acknowledged: number[] = [];

  /** The image's entrypoint and command, as a runtime starts them. */
  const start = (): Running => {
    const env = ['SEQD_API_KEYS=ci:admin+allocate+manage:' + KEY, `SEQ_PORT=${port}`, `SEQD_READY_URL=${url}/ready`].flatMap((e) => ['--env', e]);
    const child = spawn('buildah', ['run', '--isolation', 'chroot', '--volume', `${data}:/var/lib/seqd`, ...env, ctr, '--', ...config.Entrypoint, ...config.Cmd], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, output: () => out, exited };
  };
  const waitReady = async (r: Running) => {
    for (let i = 0; i < 300; i++) {
      if ((await http(url, 'GET', '/ready').catch(() => null))?.status === 200) return;
      await sleep(100);
    }
    throw new Error(`the container never became ready:\n${r.output()}`);
  };
  /** The image's PID 1 (tini): with chroot isolation it is a host process, found by its command line. */
  const pid1 = (): number => {
    const line = execFileSync('pgrep', ['-f', `^${config.Entrypoint.join(' ')}`], { encoding: 'utf8' }).trim().split('\n')[0];
    return Number(line);
  };

  before(async () => {
    const inspected = JSON.parse(buildah('inspect', '--type', 'image', IMAGE)) as { Docker: { config: ImageConfig } };
    config = inspected.Docker.config;
    ctr = buildah('from', '--pull=never', IMAGE);
    root = buildah('mount', ctr);
    data = mkdtempSync(join(tmpdir(), 'seqd-image-data-'));
    chownSync(data, SEQD_UID, SEQD_UID);
    port = await freePortBase(1);
    url = `http://127.0.0.1:${port}`;
    writeFileSync(marker, '');
    // Anything the container writes to its root after this moment is found by its mtime.
    const past = new Date(Date.now() - 2000);
    utimesSync(marker, past, past);
  });
  after(() => {
    run?.child.kill('SIGKILL');
    if (ctr) buildah('rm', ctr);
    rmSync(data, { recursive: true, force: true });
    rmSync(marker, { force: true });
  });

  it('is built to be run safely: non-root user, volume, SIGTERM, health check on /ready, tini as PID 1, OCI labels', () => {
    assert.equal(config.User, `${SEQD_UID}:${SEQD_UID}`);
    assert.ok(config.Volumes && '/var/lib/seqd' in config.Volumes, 'no /var/lib/seqd volume');
    assert.equal(config.StopSignal, 'SIGTERM');
    assert.deepEqual(config.Entrypoint.slice(0, 1), ['/usr/bin/tini']);
    assert.ok(config.Healthcheck?.Test.join(' ').includes('ready-check.mjs'), JSON.stringify(config.Healthcheck));
    const labels = config.Labels ?? {};
    for (const l of ['version', 'source', 'licenses', 'title', 'revision']) assert.ok(`org.opencontainers.image.${l}` in labels, `label ${l} missing`);
    assert.equal(labels['org.opencontainers.image.version'], (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
    assert.equal(labels['org.opencontainers.image.licenses'], 'MIT');
    assert.match(buildah('run', '--isolation', 'chroot', ctr, '--', 'node', '--version'), /^v24\./, 'the image runs Node 24');
  });

  it('starts with its own entrypoint as the seqd user and becomes ready; the image health check passes', async () => {
    run = start();
    await waitReady(run);
    const uid = execFileSync('ps', ['-o', 'uid=', '-p', String(pid1())], { encoding: 'utf8' }).trim();
    assert.equal(uid, String(SEQD_UID), 'PID 1 does not run as the seqd user');
    const check = config.Healthcheck?.Test ?? [];
    // Test is ["CMD", argv…] for the exec form.
    assert.equal(check[0], 'CMD');
    const env = ['--env', `SEQD_READY_URL=${url}/ready`];
    execFileSync('buildah', ['run', '--isolation', 'chroot', ...env, ctr, '--', ...check.slice(1)], { stdio: 'pipe' });
    assert.match(run.output(), /profile container, sqlite store in \/var\/lib\/seqd/);
  });

  it('refuses allocations without a key, hands out numbers with one, and its audit trail verifies', async () => {
    assert.equal((await http(url, 'POST', '/api/v1/sequence/next', NEXT)).status, 401);
    for (let i = 0; i < 20; i++) {
      const r = await http<{ numbers: number[] }>(url, 'POST', '/api/v1/sequence/next', NEXT, AUTH);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      acknowledged.push(...r.body.numbers);
    }
    const verify = await http<{ valid: boolean }>(url, 'GET', '/api/v1/audit/verify', undefined, AUTH);
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body));
  });

  it('SIGTERM to PID 1 under load: not ready at once, in-flight requests answered, clean exit 0; nothing acknowledged is lost', async () => {
    let stop = false;
    let failed = 0;
    const client = async (id: number) => {
      for (let i = 0; !stop; i++) {
        const r = await http<{ numbers: number[] }>(url, 'POST', '/api/v1/sequence/next', NEXT, { ...AUTH, 'idempotency-key': `img-${id}-${i}` }).catch(() => null);
        if (r?.status === 200) acknowledged.push(...r.body.numbers);
        else failed++;
        if (r === null) return;
      }
    };
    const load = Promise.all(Array.from({ length: 4 }, (_, i) => client(i)));
    await sleep(500);
    process.kill(pid1(), 'SIGTERM');
    await sleep(300);
    assert.equal((await http(url, 'GET', '/ready')).status, 503, '/ready still 200 after SIGTERM');
    const code = await run.exited;
    stop = true;
    await load;
    console.log(`# image: SIGTERM under load: ${acknowledged.length} numbers acknowledged in all, ${failed} refused or unanswered after the port closed`);
    assert.equal(code, 0, run.output());
    assert.match(run.output(), /shutdown: store closed/);
  });

  it('wrote nothing outside its volume: it runs on a read-only root filesystem', () => {
    const written = execFileSync('find', [root, '-mindepth', '1', '-xdev', '-newer', marker, '-not', '-path', `${root}/run`, '-not', '-path', `${root}/run/*`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    assert.deepEqual(written, []);
  });

  it('starts again on the same volume: every acknowledged number is there once, the trail verifies', async () => {
    run = start();
    await waitReady(run);
    assert.equal(new Set(acknowledged).size, acknowledged.length, 'a number was acknowledged twice');
    const stats = await http<{ highWaterMark: number }>(url, 'GET', '/api/v1/sequence/stats', undefined, AUTH);
    assert.equal(stats.body.highWaterMark, Math.max(...acknowledged));
    for (const n of acknowledged) {
      const page = await http<{ events: { event: string; first: number; last: number }[] }>(url, 'GET', `/api/v1/audit?number=${n}&limit=10`, undefined, AUTH);
      assert.equal(page.body.events.filter((e) => e.event === 'issue' && e.first <= n && e.last >= n).length, 1, `number ${n} is not issued once in the trail`);
    }
    const verify = await http<{ valid: boolean }>(url, 'GET', '/api/v1/audit/verify', undefined, AUTH);
    assert.equal(verify.body.valid, true);
    process.kill(pid1(), 'SIGTERM');
    assert.equal(await run.exited, 0);
  });
});
