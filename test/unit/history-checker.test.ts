import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkHistory, type HistoryOp, type TrailEvent } from '../helpers/history-checker.js';

// The checker is trusted only because it catches these: each history below is what a broken
// implementation would produce, and each must be reported.

const ev = (seq: number, event: string, first: number, last: number, more: Partial<TrailEvent> = {}): TrailEvent => ({
  seq,
  event,
  first,
  last,
  requestId: null,
  allocation: null,
  reason: null,
  ...more,
});
const next = (client: number, start: number, end: number, numbers: number[], allocation: string, more: Partial<HistoryOp> = {}): HistoryOp => ({
  kind: 'next',
  client,
  start,
  end,
  outcome: 'ok',
  numbers,
  allocation,
  ...more,
});
const rel = (client: number, start: number, end: number, n: number, allocation: string, more: Partial<HistoryOp> = {}): HistoryOp => ({
  kind: 'release',
  client,
  start,
  end,
  outcome: 'ok',
  numbers: [n],
  allocation,
  ...more,
});

describe('history checker', () => {
  const goodTrail = [
    ev(1, 'issue', 1, 1, { requestId: 'a' }),
    ev(2, 'issue', 2, 2, { requestId: 'b' }),
    ev(3, 'release', 1, 1, { allocation: 1, reason: 'cancelled' }),
    ev(4, 'refill', 1, 1, { requestId: 'c' }),
  ];
  const goodOps = [
    next(1, 0, 10, [1], 'global#1', { key: 'a' }),
    next(2, 11, 20, [2], 'global#2', { key: 'b' }),
    rel(1, 21, 30, 1, 'global#1'),
    next(3, 25, 40, [1], 'global#4', { key: 'c', refilled: [1] }),
  ];

  it('accepts a consistent history', () => {
    assert.deepEqual(checkHistory(goodOps, goodTrail), []);
  });

  it('catches a number told to two requests (no release in between)', () => {
    const trail = [ev(1, 'issue', 1, 1, { requestId: 'a' })];
    const ops = [next(1, 0, 10, [1], 'global#1', { key: 'a' }), next(2, 0, 12, [1], 'global#1', { key: 'x' })];
    assert.match(checkHistory(ops, trail).join('\n'), /told to two requests/);
  });

  it('catches a refill told before the old holder asked to release (a retried release hitting the new holder)', () => {
    const ops = [...goodOps.slice(0, 2), rel(1, 50, 60, 1, 'global#1'), next(3, 25, 40, [1], 'global#4', { key: 'c', refilled: [1] })];
    assert.match(checkHistory(ops, goodTrail).join('\n'), /before allocation 1 even asked/);
  });

  it('catches a release the holder never asked for, and one of a delivered number as undelivered', () => {
    const noAsk = checkHistory(goodOps.filter((o) => o.kind !== 'release'), goodTrail).join('\n');
    assert.match(noAsk, /though its holder never asked/);
    const trail = goodTrail.map((e) => (e.seq === 3 ? { ...e, reason: 'undelivered' } : e));
    assert.match(checkHistory(goodOps, trail).join('\n'), /released as undelivered though client 1 was told/);
  });

  it('takes a retried release answered NUMBER_REASSIGNED as one that may have acted (its first attempt did)', () => {
    const ops = [...goodOps.slice(0, 2), rel(1, 21, 45, 1, 'global#1', { outcome: 'failed', code: 'NUMBER_REASSIGNED' }), goodOps[3] as HistoryOp];
    assert.deepEqual(checkHistory(ops, goodTrail), []);
    const refused = [...goodOps.slice(0, 2), rel(1, 21, 45, 1, 'global#1', { outcome: 'failed', code: 'HOLDER_MISMATCH' }), goodOps[3] as HistoryOp];
    assert.match(checkHistory(refused, goodTrail).join('\n'), /though its holder never asked/);
  });

  it('catches a hand-over without a release, and an acknowledged act missing from the trail', () => {
    const trail = [goodTrail[0], goodTrail[1], ev(3, 'release', 1, 1, { allocation: 2, reason: 'cancelled' }), goodTrail[3]].filter((e): e is TrailEvent => !!e);
    const found = checkHistory(goodOps, trail).join('\n');
    assert.match(found, /without a release by 1/);
    assert.match(found, /acknowledged release of 1 \(allocation global#1\) is not in the trail/);
    assert.match(checkHistory([next(1, 0, 1, [7], 'global#9')], goodTrail).join('\n'), /acknowledged 7 .* is not in the trail/);
  });

  it('catches an inversion of real-time order', () => {
    const trail = [ev(1, 'issue', 1, 1), ev(2, 'issue', 2, 2)];
    const ops = [next(1, 0, 10, [2], 'global#2'), next(2, 11, 20, [1], 'global#1')];
    assert.match(checkHistory(ops, trail).join('\n'), /real-time order/);
  });

  it('catches a hidden hole: a number issued to a request nobody heard back from, never released', () => {
    const trail = [ev(1, 'issue', 1, 1, { requestId: 'a' }), ev(2, 'issue', 2, 2)];
    const ops = [next(1, 0, 10, [1], 'global#1', { key: 'a' }), { ...next(2, 11, 20, [], ''), outcome: 'unknown' as const }];
    assert.deepEqual(checkHistory(ops, trail), [], 'not checked unless asked');
    assert.match(checkHistory(ops, trail, { noHiddenHoles: true }).join('\n'), /number 2 \(allocation 2\) reached no client and was never released/);
    const released = [...trail, ev(3, 'release', 2, 2, { allocation: 2, reason: 'undelivered' })];
    assert.deepEqual(checkHistory(ops, released, { noHiddenHoles: true }), []);
  });

  it('catches a key with two allocations, and a committed key no client learned', () => {
    const trail = [ev(1, 'issue', 1, 1, { requestId: 'k' }), ev(2, 'issue', 2, 2), ev(3, 'issue', 3, 3, { requestId: 'k' })];
    const ops = [next(1, 0, 10, [1], 'global#1', { key: 'k' }), next(1, 11, 20, [3], 'global#3', { key: 'k' })];
    const found = checkHistory(ops, trail).join('\n');
    assert.match(found, /answered with two allocations/);
    assert.match(found, /more than one allocation/);
    const lost = checkHistory([{ ...next(1, 0, 10, [], ''), outcome: 'unknown', key: 'k2' }], [ev(1, 'issue', 1, 1, { requestId: 'k2' })]);
    assert.match(lost.join('\n'), /committed but no client learned/);
  });

  it('across series: catches a key in two periods and a request answered from an earlier period after a later one', () => {
    const trail = [
      ev(1, 'issue', 1, 1, { series: 'global@2026', requestId: 'k' }),
      ev(1, 'issue', 1, 1, { series: 'global@2027', requestId: 'k' }),
      ev(2, 'issue', 2, 2, { series: 'global@2026' }),
    ];
    const ops = [
      next(1, 0, 10, [1], 'global@2026#1', { key: 'k' }),
      next(2, 11, 20, [1], 'global@2027#1', { key: 'k' }),
      next(3, 21, 30, [2], 'global@2026#2'),
    ];
    const found = checkHistory(ops, trail).join('\n');
    assert.match(found, /key k holds numbers in global@2026 and global@2027/);
    assert.match(found, /key k was answered with two allocations|period order: client 3 .* got period 2026, after client 2 was answered from 2027/);
    assert.match(found, /period order/);
    assert.match(checkHistory([next(1, 0, 1, [5], 'other@2026#5')], trail).join('\n'), /series other@2026, which has no trail/);
  });
});
