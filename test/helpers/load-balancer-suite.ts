import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { etcdMissing, freePortBase, startTestCluster, type TestCluster } from './etcd-cluster.js';
import { driveKeyedClients } from './keyed-clients.js';
import { spawnSeqd, type SeqdProcess } from './seqd-process.js';
import { http } from './seqd-server.js';

/** The seqd configuration of the compose stack: the instances here run with this very file. */
export const COMPOSE_SEQD_CONFIG = fileURLToPath(new URL('../../deploy/compose/seqd.yml', import.meta.url));

const CLIENT_KEY = 'lb-client-key-0123456789';
const FORWARD_KEY = 'lb-forward-key-0123456789';
const AUTH = { authorization: `Bearer ${CLIENT_KEY}` };

/** A load balancer started in front of two instances (host:port each), listening on `bind`. */
export interface LoadBalancerUnderTest {
  readonly name: string;
  /** Why the suite cannot run here (a missing tool), or null. Throws in CI. */
  missing(): string | null;
  start(o: { a: string; b: string; bind: string; dir: string }): Promise<{ stop(): void }>;
}

/**
 * The load-balancer contract, run by each shipped configuration: two HA instances on a managed
 * 3-member cluster behind it; kill -9 of one moves traffic to the other, a SIGTERM drains one with
 * zero failed requests, and every acknowledged number is in the audit exactly once.
 */
export function loadBalancerSuite(lb: LoadBalancerUnderTest): void {
  const skip = etcdMissing() ?? lb.missing();
  describe(`${lb.name} in front of two HA instances`, { skip: skip ?? false, timeout: 180_000 }, () => {
    let tc: TestCluster;
    let dir: string;
    let ports: number[];
    let a: SeqdProcess;
    let b: SeqdProcess;
    let proxy: { stop(): void };
    let lbUrl: string;
    const acknowledged: number[] = [];
    // Fixed ports, so that a restarted instance is where the load balancer expects it.
    const startInstance = (name: 'a' | 'b') =>
      spawnSeqd(['--config', COMPOSE_SEQD_CONFIG, '--port', String(ports[name === 'a' ? 0 : 1])], {
        SEQ_PROFILE: 'container',
        SEQ_DATA_DIR: join(dir, name),
        SEQ_NODE_ID: `seqd-${name}`,
        SEQ_INTERNAL_PORT: '0',
        SEQ_ETCD_ENDPOINTS: tc.cluster.endpoints.join(','),
        SEQD_API_KEYS: `clients:allocate:${CLIENT_KEY},peers:internal:${FORWARD_KEY}`,
        SEQD_FORWARD_KEY: FORWARD_KEY,
      });

    before(async () => {
      tc = await startTestCluster();
      dir = mkdtempSync(join(tmpdir(), 'seqd-lb-'));
      const base = await freePortBase(3);
      ports = [base, base + 1];
      a = await startInstance('a');
      b = await startInstance('b');
      lbUrl = `http://127.0.0.1:${base + 2}`;
      proxy = await lb.start({ a: `127.0.0.1:${ports[0]}`, b: `127.0.0.1:${ports[1]}`, bind: `127.0.0.1:${base + 2}`, dir });
      for (let i = 0; i < 100; i++) {
        if ((await http(lbUrl, 'GET', '/ready').catch(() => null))?.status === 200) return;
        await sleep(100);
      }
      throw new Error(`${lb.name} never answered /ready`);
    });
    after(async () => {
      proxy?.stop();
      a?.child.kill('SIGKILL');
      b?.child.kill('SIGKILL');
      await tc?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it('kill -9 of one instance: traffic moves to the other, no acknowledged number lost or doubled', async () => {
      let stop = false;
      const load = driveKeyedClients({ url: lbUrl, clients: 8, keyPrefix: 'lb-kill', stop: () => stop, headers: AUTH });
      await sleep(1500);
      a.child.kill('SIGKILL');
      await a.exited;
      await sleep(2500);
      stop = true;
      const t = await load;
      console.log(`# ${lb.name}: kill -9 of one instance: ${t.acknowledged.length} numbers acknowledged, ${t.failed} failed attempts, longest stall ${Math.round(t.stall)} ms`);
      acknowledged.push(...t.acknowledged);
      assert.equal(new Set(t.acknowledged).size, t.acknowledged.length, 'a number acknowledged twice');
      assert.ok(t.acknowledged.length > 50);
      assert.ok(t.stall < 3000, `stall ${Math.round(t.stall)} ms`);
    });

    it('SIGTERM of an instance after the other is back: it drains, zero failed requests; the audit holds every number once', async () => {
      a = await startInstance('a');
      // Back in the pool: a health check (HAProxy) or the end of fail_timeout (nginx).
      await sleep(2500);
      let stop = false;
      const load = driveKeyedClients({ url: lbUrl, clients: 8, keyPrefix: 'lb-drain', stop: () => stop, headers: AUTH });
      await sleep(1500);
      b.child.kill('SIGTERM');
      assert.equal(await b.exited, 0, b.output());
      await sleep(1000);
      stop = true;
      const t = await load;
      console.log(`# ${lb.name}: SIGTERM drain of one instance: ${t.acknowledged.length} numbers acknowledged, ${t.failed} failed attempts, longest stall ${Math.round(t.stall)} ms`);
      acknowledged.push(...t.acknowledged);
      assert.equal(t.failed, 0, 'a request failed while an instance drained');
      assert.equal(new Set(t.acknowledged).size, t.acknowledged.length);
      const verify = await http<{ valid: boolean }>(a.url, 'GET', '/api/v1/audit/verify', undefined, AUTH);
      assert.equal(verify.body.valid, true, JSON.stringify(verify.body).slice(0, 500));
      // Every number a client was told is in the audit, handed out (issued or refilled).
      const ndjson = await (await fetch(`${a.url}/api/v1/audit/export?format=ndjson`, { headers: AUTH })).text();
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
}
