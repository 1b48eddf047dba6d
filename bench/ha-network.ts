/**
 * `npm run bench:ha-network`: seqd on etcd members that talk over a (simulated) network. Every
 * link between the three members, and from seqd to each member, goes through a TCP proxy that
 * delays each chunk `--delay-ms` each way, as members on separate machines would be. One seqd
 * instance; runs alternate `sequence.etcd.route-to-leader` on and off (`--runs` pairs), the
 * cluster stays up between them.
 *
 *   npm run bench:ha-network -- --delay-ms 1 --seconds 8 --runs 3
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startTestCluster, waitLeader } from '../test/helpers/etcd-cluster.js';
import { Network } from '../test/helpers/network.js';
import { spawnSeqd } from '../test/helpers/seqd-process.js';
import { runHttpLoad } from './lib/http-load.js';
import { withProgress } from './lib/types.js';

const { values } = parseArgs({
  options: {
    'delay-ms': { type: 'string', default: '1' },
    seconds: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
  },
});
const DELAY = Number(values['delay-ms']);
const MEMBERS = ['m1', 'm2', 'm3'];
const BODY = JSON.stringify({ siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 1 });

const network = new Network();
const tc = await withProgress('starting 3 etcd members behind proxies', 0, startTestCluster({ heartbeatMs: 100, electionMs: 1000, network }));
const dir = mkdtempSync(join(tmpdir(), 'seqd-ha-network-'));
try {
  const viaProxies = await Promise.all(tc.cluster.members.map((m) => network.proxy(m.name, m.clientPort, { from: 'seqd' })));
  for (const a of MEMBERS) {
    for (const b of MEMBERS) if (a < b) network.set(a, b, { kind: 'delay', ms: DELAY }, true);
    network.set('seqd', a, { kind: 'delay', ms: DELAY }, true);
  }
  await waitLeader(tc.cluster);
  const rows: string[] = [];
  for (let run = 0; run < Number(values.runs) * 2; run++) {
    const route = run % 2 === 0;
    const config = join(dir, `ha-${run}.yml`);
    writeFileSync(config, `sequence:\n  storage: etcd\n  etcd:\n    embedded: false\n    route-to-leader: ${route}\n    endpoints: [${viaProxies.map((p) => `"${p.url}"`).join(', ')}]\n`);
    const seqd = await spawnSeqd(['--config', config], { SEQ_DATA_DIR: join(dir, `node-${run}`), SEQ_NODE_ID: 'seqd' });
    try {
      const seconds = Number(values.seconds);
      await runHttpLoad({ targets: [{ url: seqd.url, path: '/api/v1/sequence/next' }], bodies: [BODY], connections: Number(values.connections), seconds: 2 });
      const r = await withProgress(`route-to-leader ${route}`, seconds, runHttpLoad({ targets: [{ url: seqd.url, path: '/api/v1/sequence/next' }], bodies: [BODY], connections: Number(values.connections), seconds }));
      rows.push(`| ${route ? 'on' : 'off'} | ${Math.round(r.requestsPerSec).toLocaleString('en-US')} | ${r.latencyMs.p50.toFixed(1)} | ${r.latencyMs.p99.toFixed(1)} | ${r.errors} |`);
    } finally {
      seqd.child.kill('SIGTERM');
      await seqd.exited;
    }
  }
  console.log(`\n${DELAY} ms each way on every link between members and from seqd to them, ${values.connections} connections:\n`);
  console.log('| route-to-leader | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
} finally {
  await tc.dispose();
  await network.close();
  rmSync(dir, { recursive: true, force: true });
}
