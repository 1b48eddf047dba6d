import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectEtcd, type EtcdKvClient } from '../../src/storage/etcd/etcd-client.js';
import { etcdMissing, startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

const missing = etcdMissing();

// etcd (gRPC's server policy, PermitWithoutStream off) counts every keepalive ping on a
// connection without an open call as abuse and sends GOAWAY "too_many_pings" at the third: a
// client that pinged idle connections every 6 s lost them after about 24 s of quiet (a CI run
// saw it in the fault test). The interval is shortened here to see it in seconds.
describe('etcd client keepalive: idle connections stay within etcd policy', { skip: missing ?? false }, () => {
  let tc: TestCluster;
  let client: EtcdKvClient;
  const logged: string[] = [];
  const consoleError = console.error;
  before(async () => {
    tc = await startTestCluster();
    // grpc-js writes its connection events through console.error.
    console.error = (...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
      consoleError(...args);
    };
  });
  after(async () => {
    console.error = consoleError;
    client?.close();
    await tc?.dispose();
  });

  it('sends no pings on a connection with no call open, so etcd never refuses them', async () => {
    client = connectEtcd({ endpoints: tc.cluster.endpoints, requestTimeoutMs: 1000, keepaliveMs: 1000 });
    await client.range({ key: Buffer.from('seqd-keepalive') } as never);
    const members = await client.memberStatus();
    assert.ok(members.every((m) => m.reachable), JSON.stringify(members));
    // Pinging idle every second, the fourth ping (after about 4 s) was refused.
    await sleep(6000);
    assert.deepEqual(logged.filter((l) => /excess pings|too_many_pings/.test(l)), []);
    assert.ok((await client.memberStatus()).every((m) => m.reachable));
  });
});
