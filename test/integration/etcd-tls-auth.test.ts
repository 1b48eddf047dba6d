import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { etcdMissing, freePortBase } from '../helpers/etcd-cluster.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { makeTestPki, pem, type TestPki } from '../helpers/tls.js';

const missing = etcdMissing();
const PASSWORD = 'root-password-for-the-test';

// A real etcd serving only TLS with client certificates, with authentication on.
describe('seqd on etcd with TLS, client certificates and user/password', { skip: missing ?? false }, () => {
  let pki: TestPki;
  let dir: string;
  let etcd: ChildProcess;
  let endpoint: string;
  let s: TestServer | null = null;
  const seqdConfig = (tls: Record<string, string>, password = PASSWORD) => ({
    sequence: {
      storage: 'etcd',
      etcd: { embedded: false, endpoints: [endpoint], username: 'root', password, tls, 'forward-commits': false, 'request-timeout-ms': 2000 },
    },
  });

  before(async () => {
    pki = makeTestPki();
    dir = mkdtempSync(join(tmpdir(), 'seqd-etcd-tls-'));
    const port = await freePortBase(2);
    endpoint = `https://127.0.0.1:${port}`;
    const peer = `http://127.0.0.1:${port + 1}`;
    etcd = spawn(process.env.ETCD_BIN ?? 'etcd', [
      '--name', 'tls1', '--data-dir', join(dir, 'data'),
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `tls1=${peer}`,
      '--cert-file', pki.serverCert, '--key-file', pki.serverKey, '--trusted-ca-file', pki.ca, '--client-cert-auth',
    ], { stdio: 'ignore' });
    const admin = new Etcd3({
      hosts: endpoint,
      credentials: { rootCertificate: pem(pki.ca), certChain: pem(pki.clientCert), privateKey: pem(pki.clientKey) },
    });
    try {
      for (let i = 0; ; i++) {
        try {
          await admin.put('probe').value('1');
          break;
        } catch (error) {
          if (i > 100) throw error;
          await sleep(100);
        }
      }
      await admin.role('root').create();
      await admin.user('root').create(PASSWORD);
      await admin.user('root').addRole('root');
      await admin.auth.authEnable();
    } finally {
      admin.close();
    }
  });
  after(async () => {
    await s?.dispose();
    etcd?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    pki?.dispose();
  });

  it('allocates, releases and verifies over TLS with a client certificate and a password', async () => {
    s = await startTestServer(seqdConfig({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }));
    const holder = { siteId: 'site-1', partitionId: 'partition-a' };
    const next = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', { ...holder, invoiceType: 'on-cycle', count: 3 });
    assert.deepEqual([next.status, next.body.numbers], [200, [1, 2, 3]]);
    assert.equal((await http(s.url, 'POST', '/api/v1/sequence/release', { sequenceNumber: 2, ...holder, reason: 'cancelled' })).status, 200);
    const verify = await http<{ valid: boolean }>(s.url, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.valid, true);
    const ready = await http<{ status: string }>(s.url, 'GET', '/ready');
    assert.equal(ready.body.status, 'READY');
  });

  it('does not start with a wrong password, or without the client certificate', async () => {
    await assert.rejects(startTestServer(seqdConfig({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, 'wrong-password')));
    await assert.rejects(startTestServer(seqdConfig({ ca: pki.ca })));
  });
});
