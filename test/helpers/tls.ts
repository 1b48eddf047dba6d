import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** CA certificate (PEM file) that signed the others. */
  readonly ca: string;
  /** Server certificate for 127.0.0.1 / localhost and its key. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** A certificate naming only `seqd-peer` (no IP), as one certificate shared by every pod, and its key. */
  readonly peerCert: string;
  readonly peerKey: string;
  /** Client certificate (for mutual TLS) and its key. */
  readonly clientCert: string;
  readonly clientKey: string;
  dispose(): void;
}

/** A throw-away CA with a server and a client certificate, made by openssl (from the OS). */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-pki-'));
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=seqd test CA');
  const leaf = (name: string, cn: string, ext: string) => {
    writeFileSync(f(`${name}.ext`), ext);
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  leaf('peer', 'seqd-peer', 'subjectAltName=DNS:seqd-peer\nextendedKeyUsage=serverAuth,clientAuth\n');
  leaf('client', 'root', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    peerCert: f('peer.pem'),
    peerKey: f('peer.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Reads a PEM file. */
export const pem = (file: string): Buffer => readFileSync(file);
