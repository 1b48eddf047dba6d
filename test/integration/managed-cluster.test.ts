import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { EtcdCluster, memberHealthy, memberProcs } from '../../src/cluster/etcd-cluster.js';
import { etcdMissing, freePortBase } from '../helpers/etcd-cluster.js';
import { createServer } from 'node:net';
import pino from 'pino';
import { startSeqd } from '../../src/app.js';
import { loadConfig } from '../../src/config/config-loader.js';
import { http, startTestServer } from '../helpers/seqd-server.js';

const missing = etcdMissing();

describe('managed local etcd cluster (sequence.etcd.embedded: true)', { skip: missing ?? false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-managed-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('starts 3 members, is reused by a second supervisor, restarts a member that died, stops cleanly', async () => {
    const base = await freePortBase(6);
    const opts = { dataDir: join(dir, 'c1'), clientPortBase: base, peerPortBase: base + 3, heartbeatMs: 50, electionMs: 500 };
    const a = new EtcdCluster({ ...opts, supervise: true });
    await a.start();
    const pids = a.members.map((m) => a.pidOf(m));
    assert.ok(pids.every((p) => p !== null));
    // Each member's Go runtime is sized to its share of the machine (or to the operator's GOMAXPROCS).
    const procs = process.env.GOMAXPROCS ?? String(memberProcs(availableParallelism(), 3));
    for (const pid of pids) assert.ok(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`GOMAXPROCS=${procs}`), `member ${pid} runs with GOMAXPROCS=${procs}`);
    const b = new EtcdCluster({ ...opts, supervise: false });
    await b.start();
    assert.deepEqual(b.members.map((m) => b.pidOf(m)), pids, 'the running members were reused, not started again');

    assert.ok(a.signal('m2', 'SIGKILL'));
    const deadline = Date.now() + 10_000;
    let restarted = false;
    while (Date.now() < deadline && !restarted) {
      await sleep(200);
      const pid = a.pidOf(a.member('m2'));
      restarted = pid !== null && pid !== pids[1] && (await memberHealthy(a.member('m2').clientUrl));
    }
    assert.ok(restarted, 'the supervisor restarted the dead member');

    await a.stop();
    assert.deepEqual(a.members.map((m) => a.isRunning(m.name)), [false, false, false]);
    // Each member closed itself; stopped all at once, one of them waited for a peer that was
    // going away too and was killed after 5 s.
    for (const m of a.members) {
      const last = readFileSync(m.logFile, 'utf8').trim().split('\n').at(-1) ?? '';
      assert.match(last, /closed etcd server/, `${m.name} stopped gracefully: ${last.slice(0, 200)}`);
    }
  });

  it('seqd on the managed cluster: allocates, reports members and instances, runs the failover demo, stops the members', async () => {
    const base = await freePortBase(6);
    const clusterDir = join(dir, 'c2');
    const s = await startTestServer({
      sequence: {
        storage: 'etcd',
        etcd: { embedded: true, 'data-directory': clusterDir, 'client-port-base': base, 'peer-port-base': base + 3, 'heartbeat-interval-ms': 50, 'election-timeout-ms': 500, 'request-timeout-ms': 500 },
      },
    });
    try {
      const first = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 2 });
      assert.deepEqual(first.body.numbers, [1, 2]);
      const stats = await http<{ store: { kind: string }; cluster: { managed: boolean; members: { name: string; isLeader?: boolean; dbSizeBytes?: number }[]; instances: { node: string }[] } }>(s.url, 'GET', '/api/v1/sequence/stats');
      assert.equal(stats.body.store.kind, 'etcd');
      assert.equal(stats.body.cluster.managed, true);
      assert.deepEqual(stats.body.cluster.members.map((m) => m.name), ['m1', 'm2', 'm3']);
      assert.equal(stats.body.cluster.members.filter((m) => m.isLeader).length, 1);
      assert.ok(stats.body.cluster.members.every((m) => (m.dbSizeBytes ?? 0) > 0));

      const demo = await http<{ summary: { stallMs: number | null; killedLeader: string }; verification: { passed: boolean; checks: unknown[] } }>(s.url, 'POST', '/api/v1/demo/failover?clients=4&afterRecoveryMs=200');
      assert.equal(demo.status, 200, JSON.stringify(demo.body));
      assert.equal(demo.body.verification.passed, true, JSON.stringify(demo.body.verification));
      assert.ok(demo.body.summary.stallMs !== null);
      console.log(`failover demo on the managed cluster: leader ${demo.body.summary.killedLeader} killed, stall ${demo.body.summary.stallMs} ms`);
      // The demo waited for the member's health endpoint; seqd's own status call to it may need
      // a reconnect first (gRPC's backoff is at most 1 s), so allow a few seconds on a busy machine.
      let members: { reachable: boolean; error?: string }[] = [];
      for (const until = Date.now() + 8000; Date.now() < until; await sleep(250)) {
        members = (await http<{ cluster: { members: { reachable: boolean; error?: string }[] } }>(s.url, 'GET', '/api/v1/sequence/stats')).body.cluster.members;
        if (members.every((m) => m.reachable)) break;
      }
      assert.ok(members.every((m) => m.reachable), `the killed member was restarted: ${JSON.stringify(members)}`);
    } finally {
      await s.dispose();
    }
    const check = new EtcdCluster({ dataDir: clusterDir, clientPortBase: base, peerPortBase: base + 3 });
    assert.deepEqual(check.members.map((m) => check.isRunning(m.name)), [false, false, false], 'the last instance stopped the members');
  });

  /** A managed-cluster seqd on a port some other program holds: its start fails. */
  const failedStart = async (name: string, prepare: (clusterDir: string) => void = () => undefined) => {
    const base = await freePortBase(6);
    const clusterDir = join(dir, name);
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const address = taken.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    let error: unknown = null;
    let registeredEarly = false;
    try {
      prepare(clusterDir);
      const { config } = loadConfig({
        profile: 'poc',
        env: {},
        port,
        dataDir: join(dir, `${name}-data`),
        overrides: {
          logging: { console: false },
          server: { host: '127.0.0.1' },
          sequence: { storage: 'etcd', etcd: { embedded: true, 'data-directory': clusterDir, 'client-port-base': base, 'peer-port-base': base + 3, 'heartbeat-interval-ms': 50, 'election-timeout-ms': 500 } },
        },
      });
      const starting = startSeqd(config, { logger: pino({ level: 'silent' }) });
      starting.catch(() => undefined); // awaited below; not unhandled while polling
      // This instance counts as a user of the members from the start, before they are healthy,
      // so that another instance failing meanwhile does not stop them under it.
      const own = join(clusterDir, 'instances', `${process.pid}.pid`);
      for (let i = 0; i < 20 && !existsSync(own); i++) await sleep(10);
      registeredEarly = existsSync(own) && !(await memberHealthy(`http://127.0.0.1:${base}`));
      await starting;
    } catch (e) {
      error = e;
    } finally {
      taken.close();
    }
    return { error, registeredEarly, cluster: new EtcdCluster({ dataDir: clusterDir, clientPortBase: base, peerPortBase: base + 3 }) };
  };

  it('seqd that cannot listen (its port taken) stops the etcd members it started, and says why', async () => {
    const { error, cluster, registeredEarly } = await failedStart('c3');
    assert.match(String(error), /EADDRINUSE/);
    assert.ok(registeredEarly, 'the instance registered itself before its members were healthy');
    assert.deepEqual(cluster.members.map((m) => cluster.isRunning(m.name)), [false, false, false], 'no member left running');
  });

  it('a failed start leaves the members running while another instance uses them', async () => {
    // Another live seqd process registered on the same folder (its pid file), as one still starting.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const { error, cluster } = await failedStart('c4', (clusterDir) => {
        mkdirSync(join(clusterDir, 'instances'), { recursive: true });
        writeFileSync(join(clusterDir, 'instances', `${other.pid}.pid`), String(other.pid));
      });
      assert.match(String(error), /EADDRINUSE/);
      assert.deepEqual(cluster.members.map((m) => cluster.isRunning(m.name)), [true, true, true], 'the other instance keeps its members');
      await cluster.stop();
    } finally {
      other.kill();
    }
  });

  it('a data directory that cannot be made fails the start with its own error', async () => {
    const { error, cluster } = await failedStart('c5', (clusterDir) => writeFileSync(clusterDir, 'a file, not a folder'));
    assert.match(String(error), /ENOTDIR|EEXIST/);
    assert.deepEqual(cluster.members.map((m) => cluster.isRunning(m.name)), [false, false, false]);
  });
});
