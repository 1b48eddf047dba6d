import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextTransaction } from '../../src/storage/sqlite/sqlite-writer-queue.js';

const req = (id: number, series: string) => ({ id, plan: { series } });

describe('writer queue: which waiting commits share the next transaction', () => {
  it('takes one plan per series, in arrival order, and keeps the rest in order', () => {
    const backlog = [req(1, 'a'), req(2, 'a'), req(3, 'b'), req(4, 'a'), req(5, 'c'), req(6, 'b')];
    assert.deepEqual(nextTransaction(backlog).map((r) => r.id), [1, 3, 5]);
    assert.deepEqual(backlog.map((r) => r.id), [2, 4, 6]);
    assert.deepEqual(nextTransaction(backlog).map((r) => r.id), [2, 6]);
    assert.deepEqual(nextTransaction(backlog).map((r) => r.id), [4]);
    assert.deepEqual(nextTransaction(backlog), []);
  });
});
