import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SYSTEM_ACTORS } from '../../src/domain/actors.js';
import { hashEvent, type UnhashedEvent } from '../../src/domain/audit-chain.js';
import { planBatch } from '../../src/domain/planner.js';
import type { AuditEvent, Op, SeriesState } from '../../src/domain/types.js';
import { decodeAudit, encodeAudit } from '../../src/storage/etcd/etcd-codec.js';
import { emptySeriesState } from '../helpers/empty-series-state.js';

const event: UnhashedEvent = {
  series: 'global',
  seq: 7,
  ts: 1_767_225_600_123,
  type: 'release',
  first: 12,
  last: 12,
  siteId: 'site-1',
  partitionId: 'partition-a',
  invoiceType: 'on-cycle',
  reason: 'cancelled',
  requestId: null,
  batchId: 'b-42',
  node: 'host:8080',
  allocation: 5,
  actor: null,
  prevHash: 'ab'.repeat(32),
};

// Computed with hashEvent as it was before events recorded their actor: stored trails keep
// verifying, and a seqd with keys off writes the very same hashes as before.
const HASH_BEFORE_ACTORS = {
  withAllocation: 'bbff618ce15df8d8181782477856842eaeede5168346a3f122cfc977fd7516da',
  withoutAllocation: '37bc04bbccea27fa832f2e02dd876689e38d565545a677931ed9d3c7e9958688',
};

describe('audit chain: the actor in the hash', () => {
  it('hashes an event without an actor exactly as before actors were recorded', () => {
    assert.equal(hashEvent(event), HASH_BEFORE_ACTORS.withAllocation);
    assert.equal(hashEvent({ ...event, allocation: null }), HASH_BEFORE_ACTORS.withoutAllocation);
    // An event read from a record that has no actor field at all hashes the same.
    const { actor: _none, ...legacy } = event;
    assert.equal(hashEvent(legacy as UnhashedEvent), HASH_BEFORE_ACTORS.withAllocation);
  });

  it('covers the actor when there is one, with or without an allocation', () => {
    const a = hashEvent({ ...event, actor: 'billing-a' });
    const b = hashEvent({ ...event, actor: 'billing-b' });
    assert.notEqual(a, HASH_BEFORE_ACTORS.withAllocation);
    assert.notEqual(a, b, 'another actor, another hash');
    const noAllocation = hashEvent({ ...event, allocation: null, actor: 'billing-a' });
    assert.notEqual(noAllocation, HASH_BEFORE_ACTORS.withoutAllocation);
    assert.notEqual(noAllocation, a);
  });
});

const state = emptySeriesState();
const A = { siteId: 'site-1', partitionId: 'partition-a' } as const;

function plan(ops: Op[], from: SeriesState = state) {
  const p = planBatch(from, ops, new Map(), { batchId: 'b-1', node: 'n', now: 1_700_000_000_000, gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });
  assert.ok(p.commit);
  return p.commit;
}

describe('planner: every event of an op records who caused it', () => {
  it('carries each op actor to all of its events, and null when the op names none', () => {
    const commit = plan([
      { kind: 'allocate', ...A, invoiceType: 'on-cycle', count: 2, actor: 'billing-a' },
      // A suppressed invoice: issue and release in one op, both by its actor.
      { kind: 'allocate', ...A, invoiceType: 'suppressed', count: 1, actor: 'billing-b' },
      { kind: 'release', sequenceNumber: 1, ...A, reason: 'cancelled', actor: 'billing-b' },
      { kind: 'confirm', sequenceNumber: 2, ...A },
      { kind: 'setting', key: 'simulatedEnabled', value: false, reason: 'test', actor: 'ops' },
    ]);
    assert.deepEqual(
      commit.events.map((e) => [e.type, e.first, e.actor]),
      [
        ['issue', 1, 'billing-a'],
        ['issue', 3, 'billing-b'],
        ['release', 3, 'billing-b'],
        ['release', 1, 'billing-b'],
        ['confirm', 2, null],
        ['setting', null, 'ops'],
      ],
    );
  });

  it('a close by the rollover records the system actor on its voids and its close', () => {
    const first = plan([
      { kind: 'allocate', ...A, invoiceType: 'on-cycle', count: 2, actor: 'billing-a' },
      { kind: 'release', sequenceNumber: 1, ...A, reason: 'cancelled', actor: 'billing-a' },
    ]);
    const commit = plan([{ kind: 'close', reason: 'period 2026 ended', actor: SYSTEM_ACTORS.rollover }], { ...first.next, version: '1' });
    assert.deepEqual(
      commit.events.map((e) => [e.type, e.actor]),
      [
        ['void', 'system:rollover'],
        ['close', 'system:rollover'],
      ],
    );
  });
});

describe('etcd codec: actors', () => {
  it('round-trips actors (with and without an allocation) and reads records written before them', () => {
    const events: AuditEvent[] = plan([
      { kind: 'allocate', ...A, invoiceType: 'on-cycle', count: 2, actor: 'billing-a' },
      { kind: 'allocate', ...A, invoiceType: 'on-cycle', count: 1 },
      { kind: 'release', sequenceNumber: 1, ...A, reason: 'cancelled', actor: 'billing-b' },
      { kind: 'release', sequenceNumber: 3, ...A, reason: 'cancelled' },
      { kind: 'allocate', ...A, invoiceType: 'on-cycle', count: 1, actor: 'billing-a' },
    ]).events.slice();
    assert.deepEqual(
      events.map((e) => [e.actor, e.allocation]),
      [
        ['billing-a', null],
        [null, null],
        ['billing-b', 1],
        [null, 2],
        ['billing-a', null],
      ],
    );
    assert.deepEqual(decodeAudit(encodeAudit(events)).events, events);
    // A record written before actors: rows of 9 or 10 elements, every actor null.
    const before = events.filter((e) => e.actor === null);
    const rec = JSON.parse(encodeAudit(before).toString()) as { e: unknown[][] };
    assert.ok(rec.e.every((row) => row.length <= 10));
    assert.deepEqual(decodeAudit(encodeAudit(before)).events.map((e) => e.actor), [null, null]);
  });

  it('keeps an actor once per record, not once per event', () => {
    const ops: Op[] = Array.from({ length: 50 }, () => ({ kind: 'allocate', ...A, invoiceType: 'on-cycle', count: 1, actor: 'a-rather-long-key-name-for-billing' }));
    const bytes = encodeAudit(plan(ops).events).toString();
    assert.equal(bytes.split('a-rather-long-key-name-for-billing').length - 1, 1);
  });
});
