import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it, mock } from 'node:test';
import { EtcdCluster, liveInstances } from '../../src/cluster/etcd-cluster.js';
import { isProcessAlive } from '../../src/os/process-alive.js';

/** Signalling a process of another user is refused with EPERM (as for a non-root seqd). */
function otherUsersProcess(): void {
  mock.method(process, 'kill', () => {
    throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
  });
}

describe('a process of another user is alive', () => {
  afterEach(() => mock.restoreAll());

  it('tells a live process from an exited one', () => {
    assert.equal(isProcessAlive(process.pid), true);
    const exited = spawnSync(process.execPath, ['-e', '0']).pid;
    assert.equal(isProcessAlive(exited), false);
  });

  it('counts a process it may not signal as alive', () => {
    otherUsersProcess();
    assert.equal(isProcessAlive(4242), true);
  });

  it('keeps the registration of another user\'s seqd on a managed cluster', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-instances-'));
    try {
      mkdirSync(join(dir, 'instances'));
      const file = join(dir, 'instances', '4242.pid');
      writeFileSync(file, '4242');
      otherUsersProcess();
      assert.deepEqual(liveInstances(dir), [4242]);
      assert.ok(existsSync(file));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not take a process that reuses a dead member\'s pid for the member', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seqd-members-'));
    try {
      const cluster = new EtcdCluster({ dataDir: dir });
      const m1 = cluster.member('m1');
      // This test's own process is alive but is no etcd member m1.
      writeFileSync(m1.pidFile, String(process.pid));
      assert.equal(cluster.pidOf(m1), null);
      // Nor is member m1 of another cluster (every cluster names its members m1, m2, …).
      const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30_000)', '--', '--name=m1', `--data-dir=${join(dir, 'elsewhere', 'm1')}`], { stdio: 'ignore' });
      try {
        writeFileSync(m1.pidFile, String(other.pid));
        assert.equal(cluster.pidOf(m1), null);
        // The same arguments with this cluster's data directory are its member.
        const same = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30_000)', '--', '--name=m1', `--data-dir=${m1.dataDir}`], { stdio: 'ignore' });
        try {
          writeFileSync(m1.pidFile, String(same.pid));
          assert.equal(cluster.pidOf(m1), same.pid);
        } finally {
          same.kill();
        }
      } finally {
        other.kill();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
