import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EtcdCallDeadline } from '../../src/storage/etcd/etcd-call-deadline.js';

describe('EtcdCallDeadline', () => {
  it('gives the configured deadline while calls are answered fast, and while they run out for less than its patience', () => {
    const d = new EtcdCallDeadline(500, 2000, 2000);
    d.answered(5);
    assert.equal(d.timeoutMs(), 500);
    d.ranOut(500, 10_000);
    d.ranOut(500, 11_000);
    assert.equal(d.timeoutMs(), 500, 'an election or a dead member: try again soon, do not wait longer');
    d.answered(5);
    d.ranOut(500, 12_500);
    assert.equal(d.timeoutMs(), 500, 'an answer in between starts the patience over');
  });

  it('doubles the deadline while calls keep running out past its patience, up to the maximum', () => {
    const d = new EtcdCallDeadline(500, 2000, 2000);
    for (const t of [0, 1000, 2000]) d.ranOut(500, t);
    assert.equal(d.timeoutMs(), 1000);
    d.ranOut(1000, 3000);
    assert.equal(d.timeoutMs(), 2000);
    d.ranOut(2000, 5000);
    assert.equal(d.timeoutMs(), 2000);
  });

  it('after a slow answer, allows twice as long for the calls after it, and forgets as fast answers come back', () => {
    const d = new EtcdCallDeadline(500, 2000, 2000);
    d.answered(800);
    assert.equal(d.timeoutMs(), 1600);
    for (let i = 0; i < 10; i++) d.answered(5);
    assert.equal(d.timeoutMs(), 500);
  });
});
