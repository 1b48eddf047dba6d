import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GENESIS_HASH } from '../../src/domain/audit-chain.js';
import { planBatch } from '../../src/domain/planner.js';
import type { AuditEvent, SeriesState } from '../../src/domain/types.js';
import {
  chunkOf,
  decodeAudit,
  decodeGaps,
  decodeNums,
  decodeState,
  encodeAudit,
  encodeGaps,
  encodeNums,
  encodeState,
  keys,
  prefixEnd,
} from '../../src/storage/etcd/etcd-codec.js';

function someEvents(): AuditEvent[] {
  const state: SeriesState = {
    series: 'global',
    start: 1,
    hwm: 41,
    version: '7',
    eventSeq: 9,
    lastHash: 'ab'.repeat(32),
    openGaps: [{ number: 5, reason: 'suppressed-bill', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', releasedAt: 1, grant: 3 }],
    counters: { issued: 41, refilled: 0, released: 1, voided: 0 },
    closedAt: null,
    lastEventAt: 0,
  };
  const plan = planBatch(
    state,
    [
      { kind: 'allocate', siteId: 'site-2', partitionId: 'partition-b', invoiceType: 'off-cycle', count: 3 },
      { kind: 'allocate', siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'suppressed', count: 1 },
      { kind: 'setting', key: 'simulatedEnabled', value: false, reason: 'test' },
    ],
    new Map(),
    { batchId: 'b-1', node: 'n', now: 1_700_000_000_123, gapPolicy: 'none', settings: { simulatedEnabled: true } },
  );
  assert.ok(plan.commit);
  return [...plan.commit.events];
}

describe('etcd codec', () => {
  it('round-trips a batch of audit events exactly, hashes and links included', () => {
    const events = someEvents();
    assert.ok(events.length >= 5);
    assert.deepEqual(decodeAudit(encodeAudit(events)).events, events);
    assert.equal(decodeAudit(encodeAudit(events)).batchId, 'b-1');
  });

  it('keeps an audit record compact (no per-event batch id, node or previous hash)', () => {
    const events = someEvents();
    const bytes = encodeAudit(events).length;
    assert.ok(bytes < events.length * 110 + 250, `${bytes} bytes for ${events.length} events`);
  });

  it('round-trips state, gaps and number chunks', () => {
    const state = {
      start: 1,
      hwm: 99,
      seq: 120,
      hash: GENESIS_HASH,
      counters: { issued: 100, refilled: 2, released: 3, voided: 1 },
      totals: [{ siteId: 's', partitionId: 'p', invoiceType: 'on-cycle' as const, issued: 100, refilled: 2, released: 3 }],
      closedAt: null,
      lastTs: 0,
    };
    assert.deepEqual(decodeState(encodeState(state)), state);
    const closed = { ...state, closedAt: 1_790_000_000_000, lastTs: 1_790_000_000_000 };
    assert.deepEqual(decodeState(encodeState(closed)), closed);
    // A state written before series could close (7 elements) reads as open, with no clock yet.
    const old = JSON.parse(encodeState(state).toString()) as unknown[];
    assert.deepEqual(decodeState(Buffer.from(JSON.stringify(old.slice(0, 7)))), state);
    const gaps = [{ number: 1001, reason: 'r', siteId: 's', partitionId: 'p', invoiceType: 'simulated' as const, releasedAt: 5, grant: 4 }];
    assert.deepEqual(decodeGaps(encodeGaps(gaps)), gaps);
    const nums = new Map([[7, { number: 7, status: 'void' as const, siteId: 's', partitionId: 'p', invoiceType: 'on-cycle' as const, reason: null, changedAt: 9, grant: 2 }]]);
    assert.deepEqual(decodeNums(encodeNums(nums)), nums);
    // Rows written before allocations were tracked read with grant 0 (unknown).
    const oldGap = JSON.parse(encodeGaps(gaps).toString()) as unknown[][];
    assert.equal(decodeGaps(Buffer.from(JSON.stringify(oldGap.map((r) => r.slice(0, 6)))))[0]?.grant, 0);
  });

  it('orders keys numerically and bounds prefixes', () => {
    assert.ok(Buffer.compare(keys.audit('g', 9), keys.audit('g', 10)) < 0);
    assert.ok(Buffer.compare(keys.issue('g', 999), keys.issue('g', 1000)) < 0);
    assert.equal(prefixEnd(Buffer.from('seqd/a/')).toString(), 'seqd/a0');
    assert.equal(chunkOf(999), 0);
    assert.equal(chunkOf(1000), 1);
  });
});
