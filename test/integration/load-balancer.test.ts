import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, freePortBase, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { spawnSeqd, type SeqdProcess } from '../helpers/seqd-process.js';
import { http } from '../helpers/seqd-server.js';

const CFG = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url));

function haproxyMissing(): string | null {
  if (spawnSync('haproxy', ['-v']).status === 0) return null;
  const reason = 'haproxy is not installed (Debian: apt-get install haproxy; npm test installs it as root)';
  if (process.env.CI === 'true') throw new Error(`CI needs haproxy: ${reason}`);
  return reason;
}

const skip = etcdMissing() ?? haproxyMissing();
const hostPort = (url: string) => new URL(url).host;

interface Tally {
  acknowledged: number[];
  failed: number;
  /** Longest time (ms) between two answers of one client. */
  stall: number;
}

/**
 * Clients allocating through the load balancer with idempotency keys, as the SDK does: an attempt
 * that fails is counted, and the same request (same key) is sent again until it is answered.
 */
function drive(url: string, phase: string, clients: number, stop: () => boolean): Promise<Tally> {
  const t: Tally = { acknowledged: [], failed: 0, stall: 0 };
  const client = async (id: number) => {
    let last = performance.now();
    for (let i = 0; !stop(); i++) {
      const key = `lb-${phase}-${id}-${i}`;
      for (;;) {
        const r = await http<{ numbers: number[] }>(url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' }, { 'idempotency-key': key }).catch(() => null);
        if (r?.status === 200) {
          t.acknowledged.push(...r.body.numbers);
          break;
        }
        t.failed++;
        await sleep(20);
      }
      const now = performance.now();
      t.stall = Math.max(t.stall, now - last);
      last = now;
    }
  };
  return Promise.all(Array.from({ length: clients }, (_, i) => client(i))).then(() => t);
}

describe('HAProxy in front of two HA instances (deploy/haproxy/haproxy.cfg)', { skip: skip ?? false, timeout: 180_000 }, () => {
  let tc: TestCluster;
  let dir: string;
  let config: string;
  let a: SeqdProcess;
  let b: SeqdProcess;
  let lb: ChildProcess;
  let lbUrl: string;
  const acknowledged: number[] = [];
  const startInstance = (name: string) => spawnSeqd(['--config', config], { SEQ_DATA_DIR: join(dir, name), SEQ_NODE_ID: `seqd-${name}` });
  const startLb = async (env: Record<string, string>) => {
    const child = spawn('haproxy', ['-db', '-f', CFG], { env: { ...process.env, ...env }, stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if ((await http(lbUrl, 'GET', '/ready').catch(() => null))?.status === 200) return child;
      await sleep(100);
    }
    throw new Error('HAProxy never answered /ready');
  };

  before(async () => {
    tc = await startTestCluster();
    dir = mkdtempSync(join(tmpdir(), 'seqd-lb-'));
    config = join(dir, 'ha.yml');
    // The drain delay outlasts HAProxy's health checks (2 × 250 ms) with a margin.
    writeFileSync(
      config,
      `server:\n  shutdown-delay-ms: 1500\nsequence:\n  storage: etcd\n  etcd:\n    embedded: false\n    request-timeout-ms: 500\n    endpoints: [${tc.cluster.endpoints.map((e) => `"${e}"`).join(', ')}]\n`,
    );
    a = await startInstance('a');
    b = await startInstance('b');
    const port = await freePortBase(1);
    lbUrl = `http://127.0.0.1:${port}`;
    lb = await startLb({ SEQD_A: hostPort(a.url), SEQD_B: hostPort(b.url), HAPROXY_BIND: `127.0.0.1:${port}` });
  });
  after(async () => {
    lb?.kill('SIGKILL');
    a?.child.kill('SIGKILL');
    b?.child.kill('SIGKILL');
    await tc?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9 of one instance: traffic moves to the other, no acknowledged number lost or doubled', async () => {
    let stop = false;
    const load = drive(lbUrl, 'kill', 8, () => stop);
    await sleep(1500);
    a.child.kill('SIGKILL');
    await a.exited;
    await sleep(2500);
    stop = true;
    const t = await load;
    console.log(`# load balancer: kill -9 of one instance: ${t.acknowledged.length} numbers acknowledged, ${t.failed} failed attempts, longest stall ${Math.round(t.stall)} ms`);
    acknowledged.push(...t.acknowledged);
    assert.equal(new Set(t.acknowledged).size, t.acknowledged.length, 'a number acknowledged twice');
    assert.ok(t.acknowledged.length > 50);
    assert.ok(t.stall < 3000, `stall ${Math.round(t.stall)} ms`);
  });

  it('SIGTERM of an instance after the other is back: it drains through /ready, zero failed requests', async () => {
    a = await startInstance('a');
    // The restarted instance has a new port: HAProxy is restarted with it (as a deploy tool would reload it).
    lb.kill('SIGKILL');
    const port = Number(new URL(lbUrl).port);
    lb = await startLb({ SEQD_A: hostPort(a.url), SEQD_B: hostPort(b.url), HAPROXY_BIND: `127.0.0.1:${port}` });
    let stop = false;
    const load = drive(lbUrl, 'drain', 8, () => stop);
    await sleep(1500);
    b.child.kill('SIGTERM');
    assert.equal(await b.exited, 0, b.output());
    await sleep(1000);
    stop = true;
    const t = await load;
    console.log(`# load balancer: SIGTERM drain of one instance: ${t.acknowledged.length} numbers acknowledged, ${t.failed} failed attempts, longest stall ${Math.round(t.stall)} ms`);
    acknowledged.push(...t.acknowledged);
    assert.equal(t.failed, 0, 'a request failed while an instance drained');
    assert.equal(new Set(t.acknowledged).size, t.acknowledged.length);
    const verify = await http<{ valid: boolean }>(a.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true, JSON.stringify(verify.body).slice(0, 500));
    // Every number a client was told is in the audit, handed out (issued or refilled).
    const ndjson = await (await fetch(`${a.url}/api/v1/audit/export?format=ndjson`)).text();
    const issued = new Set<number>();
    for (const line of ndjson.trim().split('\n')) {
      const e = JSON.parse(line) as { event: string; first: number; last: number };
      if (e.event === 'issue' || e.event === 'refill') for (let n = e.first; n <= e.last; n++) issued.add(n);
    }
    const missingNumbers = acknowledged.filter((n) => !issued.has(n));
    assert.deepEqual(missingNumbers.slice(0, 20), [], `${missingNumbers.length} missing of ${acknowledged.length}; audit holds ${issued.size} numbers up to ${Math.max(...issued)}`);
    assert.equal(new Set(acknowledged).size, acknowledged.length);
  });
});
