import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { buildServer } from '../../src/http/server.js';
import { http, startTestServer } from '../helpers/seqd-server.js';
import { spawnSeqd } from '../helpers/seqd-process.js';

type Outcome = { kind: 'ok'; numbers: number[] } | { kind: 'refused'; status: number; code: string | undefined } | { kind: 'no-connection' } | { kind: 'hung' };

/** One next request that never waits longer than 10 s: past that it counts as hung. */
async function next(url: string): Promise<Outcome> {
  try {
    const res = await fetch(`${url}/api/v1/sequence/next`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 2 }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { numbers?: number[]; error?: { code?: string } };
    return res.status === 200 && body.numbers ? { kind: 'ok', numbers: body.numbers } : { kind: 'refused', status: res.status, code: body.error?.code };
  } catch (error) {
    return (error as Error).name === 'TimeoutError' ? { kind: 'hung' } : { kind: 'no-connection' };
  }
}

describe('graceful shutdown (SIGTERM under load)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'seqd-shutdown-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('turns not ready, answers every request, loses no acknowledged number and exits 0', async () => {
    const config = join(dataDir, 'delay.yml');
    writeFileSync(config, 'server:\n  shutdown-delay-ms: 600\n');
    const server = await spawnSeqd(['--profile', 'poc', '--config', config], { SEQ_DATA_DIR: dataDir });
    const outcomes: Outcome[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        const o = await next(server.url);
        outcomes.push(o);
        if (o.kind === 'no-connection') return;
      }
    };
    const clients = Array.from({ length: 16 }, client);
    await sleep(700);
    const sentAt = Date.now();
    server.child.kill('SIGTERM');
    // During the delay: /ready says 503 while numbers are still handed out.
    await sleep(150);
    const ready = await http(server.url, 'GET', '/ready');
    assert.equal(ready.status, 503);
    const during = await next(server.url);
    assert.equal(during.kind, 'ok', 'requests are served during the shutdown delay');
    const code = await Promise.race([server.exited, sleep(15_000).then(() => 'still running')]);
    stop = true;
    await Promise.all(clients);
    assert.equal(code, 0, server.output().slice(-3000));
    assert.ok(Date.now() - sentAt >= 600, 'the delay was kept');
    const log = server.output();
    const order = ['SIGTERM', 'not ready any more', 'every request answered', 'store closed'].map((t) => log.indexOf(t));
    assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > (order[k - 1] ?? 0))), `shutdown steps out of order:\n${log.slice(-1500)}`);

    assert.equal(outcomes.filter((o) => o.kind === 'hung').length, 0, 'no request hangs');
    const refused = outcomes.flatMap((o) => (o.kind === 'refused' ? [`${o.status} ${o.code ?? '?'}`] : []));
    assert.ok(refused.every((r) => r === '503 SHUTTING_DOWN'), `refusals: ${[...new Set(refused)].join(', ')}`);
    const acked = outcomes.flatMap((o) => (o.kind === 'ok' ? o.numbers : []));
    assert.ok(acked.length > 100, `only ${acked.length} numbers acknowledged`);
    assert.equal(new Set(acked).size, acked.length, 'no number acknowledged twice');

    const again = await spawnSeqd(['--profile', 'poc'], { SEQ_DATA_DIR: dataDir });
    try {
      const stats = await http<{ highWaterMark: number; totals: { issued: number } }>(again.url, 'GET', '/api/v1/sequence/stats');
      assert.ok(stats.body.highWaterMark >= Math.max(...acked), 'every acknowledged number is below the stored HWM');
      assert.ok(stats.body.totals.issued >= acked.length + 2);
      const verify = await http<{ valid: boolean }>(again.url, 'GET', '/api/v1/audit/verify');
      assert.equal(verify.body.valid, true);
    } finally {
      again.child.kill('SIGKILL');
      await again.exited;
    }
  });
});

describe('requests that reach a closing instance', () => {
  it('get 503 SHUTTING_DOWN in the error shape, with Connection: close, and change nothing', async () => {
    const s = await startTestServer();
    try {
      const closing = await buildServer(s.service, {
        bodyLimit: 65536,
        gapReportLimit: 100,
        demo: { enabled: false, maxTotalRequests: 1, maxThreads: 1, maxRequestsPerThread: 1, runsPerMinute: 1 },
        logger: pino({ level: 'silent' }),
        isShuttingDown: () => true,
        isClosing: () => true,
        clusterInfo: async () => null,
        cluster: null,
      });
      const r = await closing.inject({
        method: 'POST',
        url: '/api/v1/sequence/next',
        payload: { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' },
      });
      assert.equal(r.statusCode, 503);
      assert.equal(r.headers.connection, 'close');
      assert.equal((r.json() as { error: { code: string } }).error.code, 'SHUTTING_DOWN');
      const stats = await http<{ highWaterMark: number }>(s.url, 'GET', '/api/v1/sequence/stats');
      assert.equal(stats.body.highWaterMark, 0);
      await closing.close();
    } finally {
      await s.dispose();
    }
  });
});
