import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EtcdCallDeadline } from '../../src/storage/etcd/etcd-call-deadline.js';

describe('EtcdCallDeadline', () => {
  it('gives the configured deadline while calls are fast, and doubles it for each try that ran out', () => {
    const d = new EtcdCallDeadline(500, 2000);
    d.observe(5);
    assert.equal(d.timeoutMs(), 500);
    assert.deepEqual([1, 2, 3, 4].map((a) => d.timeoutMs(a)), [500, 1000, 2000, 2000]);
  });

  it('after a slow answer, allows twice as long for the calls after it, and forgets as fast answers come back', () => {
    const d = new EtcdCallDeadline(500, 2000);
    d.observe(800);
    assert.equal(d.timeoutMs(), 1600);
    for (let i = 0; i < 10; i++) d.observe(5);
    assert.equal(d.timeoutMs(), 500);
  });

  it('never goes past its maximum', () => {
    const d = new EtcdCallDeadline(500, 2000);
    d.observe(60_000);
    assert.equal(d.timeoutMs(99), 2000);
  });
});
