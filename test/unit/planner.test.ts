import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChainVerifier } from '../../src/domain/chain-verifier.js';
import { GENESIS_HASH } from '../../src/domain/audit-chain.js';
import {
  HolderMismatchError,
  InvoiceTypeDisabledError,
  NumberAlreadyReleasedError,
  NumberNotIssuedError,
  NumberReassignedError,
  ReplayedNumbersChangedError,
  RequestKeyNotFoundError,
} from '../../src/domain/errors/index.js';
import { sealEvent } from '../../src/domain/audit-chain.js';
import { planBatch, type BatchPlan, type PlanContext } from '../../src/domain/planner.js';
import { emptySeriesState } from '../helpers/empty-series-state.js';
import type { AllocationRef, AuditEvent, GapPolicy, InvoiceType, NumberRecord, Op, RequestRecord, SeriesState } from '../../src/domain/types.js';

const A = { siteId: 'site-1', partitionId: 'partition-a' } as const;
const B = { siteId: 'site-2', partitionId: 'partition-b' } as const;

const emptyState = emptySeriesState;

let batchNo = 0;
function ctx(gapPolicy: GapPolicy = 'lowest-first', simulatedEnabled = true): PlanContext {
  return { batchId: `b${++batchNo}`, node: 'n1', now: 1_700_000_000_000 + batchNo, gapPolicy, settings: { simulatedEnabled } };
}

const alloc = (count = 1, holder: { siteId: string; partitionId: string } = A, invoiceType: InvoiceType = 'on-cycle'): Op => ({
  kind: 'allocate',
  ...holder,
  invoiceType,
  count,
});
const release = (n: number, holder: { siteId: string; partitionId: string } = A, reason = 'suppressed-bill'): Op => ({
  kind: 'release',
  sequenceNumber: n,
  ...holder,
  reason,
});

/**
 * A tiny in-memory model of the store, enough to feed the planner the records it asks for and
 * to replay its events through the verifier. Pure test scaffolding.
 */
class Harness {
  state: SeriesState;
  readonly events: AuditEvent[] = [];
  readonly holders = new Map<number, NumberRecord>();
  readonly requests = new Map<string, RequestRecord>();

  constructor(
    private readonly policy: GapPolicy = 'lowest-first',
    start = 1,
  ) {
    this.state = emptyState(start);
  }

  run(ops: Op[], simulatedEnabled = true): BatchPlan {
    const records = new Map<number, NumberRecord>();
    const requests = new Map<string, RequestRecord>();
    const want = (n: number) => {
      const r = this.holders.get(n);
      if (r) records.set(n, r);
    };
    for (const op of ops) {
      if (op.kind === 'release' || op.kind === 'confirm') want(op.sequenceNumber);
      const known = op.kind === 'allocate' && op.requestId !== undefined ? this.requests.get(op.requestId) : undefined;
      if (known && op.kind === 'allocate' && op.requestId !== undefined) {
        requests.set(op.requestId, known);
        known.numbers.forEach(want);
      }
    }
    const plan = planBatch(this.state, ops, records, { ...ctx(this.policy, simulatedEnabled), requests });
    if (plan.commit) {
      this.state = { ...plan.commit.next, version: String(Number(this.state.version) + 1) };
      this.events.push(...plan.commit.events);
      for (const e of plan.commit.events) {
        if (e.type !== 'issue' || e.first === null || e.last === null) continue;
        for (let n = e.first; n <= e.last; n++) {
          this.holders.set(n, {
            number: n,
            status: 'issued',
            siteId: e.siteId ?? '',
            partitionId: e.partitionId ?? '',
            invoiceType: e.invoiceType ?? 'on-cycle',
            reason: null,
            changedAt: e.ts,
            grant: e.seq,
          });
        }
      }
      for (const c of plan.commit.numberChanges) this.holders.set(c.number, { ...c, changedAt: 0 });
      for (const r of plan.commit.requests) this.requests.set(r.key, r);
    }
    return plan;
  }

  verify() {
    const v = new ChainVerifier('global', this.state.start);
    for (const e of this.events) v.push(e);
    return v.finish(this.state);
  }
}

function numbersOf(plan: BatchPlan, i: number): number[] {
  const o = plan.outcomes[i];
  assert.ok(o?.ok && o.kind === 'allocate', `outcome ${i} should be an allocation: ${JSON.stringify(o)}`);
  return o.numbers;
}

describe('planner: batching', () => {
  it('serves a batch in arrival order from the counter, as if requests ran one by one', () => {
    const h = new Harness();
    const plan = h.run([alloc(1), alloc(3, B), alloc(1)]);
    assert.deepEqual(numbersOf(plan, 0), [1]);
    assert.deepEqual(numbersOf(plan, 1), [2, 3, 4]);
    assert.deepEqual(numbersOf(plan, 2), [5]);
    assert.equal(h.state.hwm, 5);
    assert.equal(h.state.counters.issued, 5);
  });

  it('writes one issue event per request (a range), chained by hash', () => {
    const h = new Harness();
    const plan = h.run([alloc(100), alloc(1)]);
    const events = plan.commit?.events ?? [];
    assert.equal(events.length, 2);
    assert.deepEqual([events[0]?.first, events[0]?.last], [1, 100]);
    assert.equal(events[0]?.prevHash, GENESIS_HASH);
    assert.equal(events[1]?.prevHash, events[0]?.hash);
    assert.equal(h.verify().valid, true);
  });

  it('continues the chain across batches and starts at the configured number', () => {
    const h = new Harness('lowest-first', 1000);
    h.run([alloc(2)]);
    const plan = h.run([alloc(1)]);
    assert.deepEqual(numbersOf(plan, 0), [1002]);
    assert.equal(plan.commit?.events[0]?.seq, 2);
    assert.equal(h.verify().valid, true);
  });

  it('plans nothing to commit when every op is refused', () => {
    const h = new Harness();
    const plan = h.run([release(7)]);
    assert.equal(plan.commit, null);
    assert.equal(plan.outcomes[0]?.ok, false);
  });
});

describe('planner: gap recovery (lowest first)', () => {
  it('refills open gaps lowest first before the counter moves', () => {
    const h = new Harness();
    h.run([alloc(10)]);
    h.run([release(7), release(3), release(5)]);
    assert.deepEqual(h.state.openGaps.map((g) => g.number), [3, 5, 7]);
    const plan = h.run([alloc(1), alloc(3, B)]);
    assert.deepEqual(numbersOf(plan, 0), [3]);
    assert.deepEqual(numbersOf(plan, 1), [5, 7, 11]);
    const second = plan.outcomes[1];
    assert.ok(second?.ok && second.kind === 'allocate');
    assert.deepEqual(second.refilled, [5, 7]);
    assert.equal(h.state.hwm, 11);
    assert.equal(h.state.openGaps.length, 0);
    assert.equal(h.state.counters.refilled, 3);
    assert.equal(h.verify().valid, true);
  });

  it('a release and a refill in the same batch behave as in sequence', () => {
    const h = new Harness();
    h.run([alloc(4)]);
    const plan = h.run([release(2), alloc(1, B), release(2, B)]);
    assert.deepEqual(numbersOf(plan, 1), [2]);
    const third = plan.outcomes[2];
    assert.ok(third?.ok && third.kind === 'release', 'the new holder may release the refilled number');
    assert.deepEqual(h.state.openGaps.map((g) => g.number), [2]);
    assert.equal(h.verify().valid, true);
  });

  it('suppressed requests are issued and released at once, leaving open gaps', () => {
    const h = new Harness();
    const plan = h.run([alloc(2, A, 'suppressed'), alloc(1)]);
    const first = plan.outcomes[0];
    assert.ok(first?.ok && first.kind === 'allocate');
    assert.deepEqual(first.numbers, [1, 2]);
    assert.equal(first.released, true);
    assert.deepEqual(numbersOf(plan, 1), [1], 'the next request refills the suppressed number');
    assert.deepEqual(h.state.openGaps.map((g) => g.number), [2]);
    assert.equal(h.state.openGaps[0]?.reason, 'suppressed');
    assert.equal(h.verify().valid, true);
  });
});

describe('planner: gap recovery disabled', () => {
  it('voids released numbers at once and never reuses them', () => {
    const h = new Harness('none');
    h.run([alloc(3)]);
    const rel = h.run([release(2)]);
    const r = rel.outcomes[0];
    assert.ok(r?.ok && r.kind === 'release');
    assert.equal(r.status, 'void');
    assert.deepEqual(rel.commit?.events.map((e) => e.type), ['release', 'void']);
    const plan = h.run([alloc(1)]);
    assert.deepEqual(numbersOf(plan, 0), [4]);
    assert.equal(h.state.counters.voided, 1);
    assert.equal(h.state.openGaps.length, 0);
    const again = h.run([release(2)]).outcomes[0];
    assert.ok(again && !again.ok && again.error instanceof NumberAlreadyReleasedError);
    const report = h.verify();
    assert.equal(report.valid, true);
    assert.equal(report.continuity.void, 1);
  });
});

describe('planner: chronological gap policy', () => {
  it('refills a number released at the top, and voids one released below a held number', () => {
    const h = new Harness('chronological');
    h.run([alloc(5)]);
    const middle = h.run([release(3)]);
    const m = middle.outcomes[0];
    assert.ok(m?.ok && m.kind === 'release');
    assert.equal(m.status, 'void');
    assert.match(middle.commit?.events[1]?.reason ?? '', /^chronological numbering: .*released: suppressed-bill$/);
    const top = h.run([release(5)]).outcomes[0];
    assert.ok(top?.ok && top.kind === 'release');
    assert.equal(top.status, 'open');
    assert.deepEqual(numbersOf(h.run([alloc(2)]), 0), [5, 6], 'the top gap first, then the counter');
    const report = h.verify();
    assert.equal(report.valid, true);
    assert.equal(report.continuity.void, 1);
  });

  it('keeps a suppressed run at the top refillable, and a release below an open top gap too', () => {
    const h = new Harness('chronological');
    h.run([alloc(2)]);
    h.run([alloc(3, A, 'suppressed')]);
    assert.deepEqual(h.state.openGaps.map((g) => g.number), [3, 4, 5]);
    // 2 is below only open gaps: nothing held above it, so it stays refillable as well.
    const r = h.run([release(2)]).outcomes[0];
    assert.ok(r?.ok && r.kind === 'release' && r.status === 'open');
    assert.deepEqual(numbersOf(h.run([alloc(4)]), 0), [2, 3, 4, 5]);
    assert.equal(h.verify().valid, true);
  });
});

describe('planner: release rules', () => {
  it('refuses a number never issued (above the HWM or below the start)', () => {
    const h = new Harness('lowest-first', 10);
    h.run([alloc(2)]);
    for (const n of [12, 9, 0]) {
      const o = h.run([release(n)]).outcomes[0];
      assert.ok(o && !o.ok && o.error instanceof NumberNotIssuedError, `release ${n}`);
      assert.equal(o.error.httpStatus, 404);
    }
  });

  it('refuses a number already released', () => {
    const h = new Harness();
    h.run([alloc(2)]);
    h.run([release(1)]);
    const o = h.run([release(1)]).outcomes[0];
    assert.ok(o && !o.ok && o.error instanceof NumberAlreadyReleasedError);
    assert.equal(o.error.httpStatus, 409);
  });

  it('refuses a release that names another site or partition, naming the field', () => {
    const h = new Harness();
    h.run([alloc(1)]);
    const bySite = h.run([release(1, { siteId: 'site-2', partitionId: 'partition-a' })]).outcomes[0];
    assert.ok(bySite && !bySite.ok && bySite.error instanceof HolderMismatchError);
    assert.equal(bySite.error.field, 'siteId');
    const byPartition = h.run([release(1, { siteId: 'site-1', partitionId: 'partition-b' })]).outcomes[0];
    assert.ok(byPartition && !byPartition.ok && byPartition.error instanceof HolderMismatchError);
    assert.equal(byPartition.error.field, 'partitionId');
    assert.equal(h.state.openGaps.length, 0, 'refused releases change nothing');
    assert.equal(h.state.eventSeq, 1);
  });

  it('a refusal inside a batch does not disturb the other ops', () => {
    const h = new Harness();
    const plan = h.run([alloc(1), release(99), alloc(1)]);
    assert.deepEqual(numbersOf(plan, 0), [1]);
    assert.equal(plan.outcomes[1]?.ok, false);
    assert.deepEqual(numbersOf(plan, 2), [2]);
  });
});

describe('planner: simulated toggle', () => {
  it('refuses simulated requests while switched off and audits the toggle', () => {
    const h = new Harness();
    const off = h.run([alloc(1, A, 'simulated')], false).outcomes[0];
    assert.ok(off && !off.ok && off.error instanceof InvoiceTypeDisabledError);
    assert.equal(off.error.field, 'invoiceType');
    const plan = h.run([{ kind: 'setting', key: 'simulatedEnabled', value: false, reason: 'test' }, alloc(1, A, 'simulated')]);
    assert.equal(plan.settings.simulatedEnabled, false);
    assert.equal(plan.outcomes[1]?.ok, false, 'a toggle applies to the requests after it in the same batch');
    assert.equal(plan.commit?.events[0]?.type, 'setting');
    assert.equal(h.verify().valid, true);
  });
});

describe('planner: idempotency keys', () => {
  const keyed = (key: string, count = 1, holder: { siteId: string; partitionId: string } = A): Op => ({ ...(alloc(count, holder) as Extract<Op, { kind: 'allocate' }>), requestId: key });

  it('records a new key with the outcome in the same commit', () => {
    const plan = planBatch(emptyState(), [keyed('k1', 2)], new Map(), ctx());
    assert.deepEqual(plan.commit?.requests.map((r) => [r.key, r.numbers]), [['k1', [1, 2]]]);
    assert.equal(plan.commit?.events[0]?.requestId, 'k1');
  });

  it('answers a retry with the stored numbers and writes nothing', () => {
    const h = new Harness();
    const first = h.run([keyed('k1', 2)]);
    const record = first.commit?.requests[0];
    assert.ok(record);
    const retry = h.run([keyed('k1', 2)]);
    assert.equal(retry.commit, null);
    const o = retry.outcomes[0];
    assert.ok(o?.ok && o.kind === 'allocate');
    assert.deepEqual(o.numbers, [1, 2]);
    assert.equal(o.replayOf, record.committedAt);
    assert.deepEqual(o.allocation, record.allocation);
  });

  it('never replays a number that left the request: released, then refilled to another holder (item 2)', () => {
    const h = new Harness();
    h.run([keyed('k1', 2)]);
    h.run([release(1, A, 'cancelled')]);
    const open = h.run([keyed('k1', 2)]).outcomes[0];
    assert.ok(open && !open.ok && open.error instanceof ReplayedNumbersChangedError, JSON.stringify(open));
    assert.equal(open.error.httpStatus, 409);
    assert.deepEqual(open.error.details, { held: [2], changed: [{ sequenceNumber: 1, status: 'open', reason: 'cancelled' }] });
    h.run([alloc(1, A)]); // same site and partition: refills 1
    const reassigned = h.run([keyed('k1', 2)]).outcomes[0];
    assert.ok(reassigned && !reassigned.ok && reassigned.error instanceof ReplayedNumbersChangedError);
    assert.deepEqual(reassigned.error.details, { held: [2], changed: [{ sequenceNumber: 1, status: 'reassigned', reason: null }] });
    assert.equal(h.verify().valid, true);
  });

  it('a replay-only allocation refuses when the key is unknown, and allocates nothing', () => {
    const plan = planBatch(emptyState(), [{ ...(keyed('k9') as Extract<Op, { kind: 'allocate' }>), replayOnly: true }], new Map(), ctx());
    assert.equal(plan.commit, null);
    const o = plan.outcomes[0];
    assert.ok(o && !o.ok && o.error instanceof RequestKeyNotFoundError);
  });

  it('refuses the same key with a different body (422) and changes nothing for it', () => {
    const first = planBatch(emptyState(), [keyed('k1', 2)], new Map(), ctx());
    const record = first.commit?.requests[0];
    assert.ok(first.commit && record);
    const state = { ...first.commit.next, version: '1' };
    const other = planBatch(state, [keyed('k1', 3), keyed('k1', 2, B)], new Map(), { ...ctx(), requests: new Map([['k1', record]]) });
    assert.equal(other.commit, null);
    for (const o of other.outcomes) assert.ok(!o.ok && o.error.httpStatus === 422 && o.error.code === 'IDEMPOTENCY_KEY_REUSED');
  });

  it('gives the same numbers to two copies of one keyed request in one batch', () => {
    const plan = planBatch(emptyState(), [keyed('k1', 2), alloc(1), keyed('k1', 2)], new Map(), ctx());
    const [a, b, c] = plan.outcomes;
    assert.ok(a?.ok && a.kind === 'allocate' && b?.ok && b.kind === 'allocate' && c?.ok && c.kind === 'allocate');
    assert.deepEqual(a.numbers, [1, 2]);
    assert.deepEqual(b.numbers, [3]);
    assert.deepEqual(c.numbers, [1, 2]);
    assert.equal(plan.commit?.next.hwm, 3);
    assert.equal(plan.commit?.requests.length, 1);
  });
});

describe('planner: acts name their allocation (item 1)', () => {
  const allocationOf = (plan: BatchPlan, i = 0): AllocationRef => {
    const o = plan.outcomes[i];
    assert.ok(o?.ok && o.kind === 'allocate' && o.allocation);
    return o.allocation;
  };
  const releaseBy = (n: number, allocation: AllocationRef, reason = 'cancelled'): Op => ({ kind: 'release', sequenceNumber: n, ...A, reason, allocation });
  const confirmBy = (n: number, allocation: AllocationRef): Op => ({ kind: 'confirm', sequenceNumber: n, ...A, allocation });

  it('a retried release after the number was refilled to the same site and partition is answered done and changes nothing', () => {
    const h = new Harness();
    const h1 = allocationOf(h.run([alloc(1)]));
    const first = h.run([releaseBy(1, h1)]).outcomes[0];
    assert.ok(first?.ok && first.kind === 'release' && !first.alreadyReleased);
    const h2 = allocationOf(h.run([alloc(1)]));
    assert.notDeepEqual(h2, h1);
    // The retry of H1's release (its reply was lost) must not release H2's number.
    const retry = h.run([releaseBy(1, h1)]);
    const o = retry.outcomes[0];
    assert.ok(o?.ok && o.kind === 'release' && o.alreadyReleased && o.reason === 'cancelled', JSON.stringify(o));
    assert.equal(retry.commit, null);
    assert.equal(h.state.openGaps.length, 0, 'H2 still holds 1');
    // A second hand-over since: H1's release is too old to be recognised, but still refused.
    h.run([releaseBy(1, h2)]);
    const h3 = allocationOf(h.run([alloc(1)]));
    const older = h.run([releaseBy(1, h1)]).outcomes[0];
    assert.ok(older && !older.ok && older.error instanceof NumberReassignedError, JSON.stringify(older));
    assert.equal(older.error.httpStatus, 409);
    const own = h.run([releaseBy(1, h3)]).outcomes[0];
    assert.ok(own?.ok && own.kind === 'release' && !own.alreadyReleased);
    assert.equal(h.verify().valid, true);
  });

  it('a repeated release of the same allocation answers done, writing nothing', () => {
    const h = new Harness();
    const h1 = allocationOf(h.run([alloc(2)]));
    h.run([releaseBy(2, h1, 'suppressed-bill')]);
    const again = h.run([releaseBy(2, h1, 'suppressed-bill')]);
    const o = again.outcomes[0];
    assert.ok(o?.ok && o.kind === 'release' && o.alreadyReleased && o.status === 'open' && o.reason === 'suppressed-bill');
    assert.equal(again.commit, null);
    // Without the allocation it stays a refusal: the number is released.
    const plain = h.run([release(2)]).outcomes[0];
    assert.ok(plain && !plain.ok && plain.error instanceof NumberAlreadyReleasedError);
  });

  it('a late confirm after expiry and refill is refused; the new holder confirms its own', () => {
    const h = new Harness();
    const h1 = allocationOf(h.run([alloc(1)]));
    h.run([{ ...(releaseBy(1, h1, 'expired') as Extract<Op, { kind: 'release' }>), ifUnchangedSince: Number.MAX_SAFE_INTEGER }]);
    const h2 = allocationOf(h.run([alloc(1)]));
    const late = h.run([confirmBy(1, h1)]).outcomes[0];
    assert.ok(late && !late.ok && late.error instanceof NumberReassignedError);
    const mine = h.run([confirmBy(1, h2)]).outcomes[0];
    assert.ok(mine?.ok && mine.kind === 'confirm' && !mine.alreadyConfirmed, JSON.stringify(mine));
    assert.equal(h.verify().valid, true);
  });

  it('release, confirm and void events name the allocation; suppressed runs are released per allocation', () => {
    const h = new Harness();
    h.run([alloc(3)]);
    h.run([release(2)]);
    // Refill 2 and take 4, 5 from the counter: one request, two allocation events.
    const plan = h.run([alloc(3, A, 'suppressed')]);
    const events = plan.commit?.events ?? [];
    const grants = events.filter((e) => e.type === 'refill' || e.type === 'issue').map((e) => e.seq);
    const releases = events.filter((e) => e.type === 'release');
    assert.deepEqual(releases.map((e) => [e.first, e.last, e.allocation]), [[2, 2, grants[0]], [4, 5, grants[1]]]);
    assert.equal(h.verify().valid, true);
  });

  it('the verifier rejects a release made on behalf of an allocation that does not hold the number', () => {
    const h = new Harness();
    h.run([alloc(1)]);
    h.run([alloc(1)]);
    h.run([release(1)]);
    assert.equal(h.verify().valid, true);
    // Re-seal the chain with the release naming the second allocation (seq 2) instead of the first.
    const forged: AuditEvent[] = [];
    let prev = GENESIS_HASH;
    for (const e of h.events) {
      const edited = e.type === 'release' ? { ...e, allocation: 2 } : e;
      const sealed = sealEvent({ ...edited, prevHash: prev });
      forged.push(sealed);
      prev = sealed.hash;
    }
    const v = new ChainVerifier('global', 1);
    for (const e of forged) v.push(e);
    const report = v.finish({ ...h.state, lastHash: prev });
    assert.equal(report.valid, false);
    assert.match(report.firstInvalidEvent?.problem ?? '', /belongs to allocation 1/);
  });
});

describe("planner: the series' clock (item 7)", () => {
  it('stamps a batch no earlier than the series\' last event, whatever the caller\'s clock', () => {
    const state = { ...emptyState(), lastEventAt: 2_000_000_000_000 };
    const plan = planBatch(state, [alloc(1)], new Map(), { ...ctx(), now: 2_000_000_000_000 - 30_000 });
    assert.equal(plan.commit?.events[0]?.ts, 2_000_000_000_000);
    assert.equal(plan.commit?.next.lastEventAt, 2_000_000_000_000);
    const later = planBatch(state, [alloc(1)], new Map(), { ...ctx(), now: 2_000_000_000_500 });
    assert.equal(later.commit?.events[0]?.ts, 2_000_000_000_500);
    // A clock set back by half an hour: the stamps still never go back.
    const back = planBatch(state, [alloc(1)], new Map(), { ...ctx(), now: 2_000_000_000_000 - 1_800_000 });
    assert.equal(back.commit?.events[0]?.ts, 2_000_000_000_000);
    assert.equal(back.commit?.committedAt, 2_000_000_000_000, 'the times stored with the batch are its stamp');
    // A last event years ahead came from a clock plainly wrong: followed by an hour at most.
    const wrong = planBatch(state, [alloc(1)], new Map(), { ...ctx(), now: 1_000 });
    assert.equal(wrong.commit?.events[0]?.ts, 3_601_000);
  });

  it('judges how long a number was held on its own clock, following a jumped series clock by a minute at most', () => {
    const h = new Harness();
    h.run([alloc(1)]);
    const issuedAt = h.events[0]?.ts ?? 0;
    const records = new Map([[1, { ...(h.holders.get(1) as NumberRecord), changedAt: issuedAt }]]);
    const expire: Op = { kind: 'release', sequenceNumber: 1, ...A, reason: 'expired', heldAtLeastMs: 100_000 };
    // Another instance's clock jumped half an hour ahead and stamped the series' last event there.
    const jumped = { ...h.state, lastEventAt: issuedAt + 1_800_000 };
    const early = planBatch(jumped, [expire], records, { ...ctx(), now: issuedAt + 30_000 });
    assert.ok(early.outcomes[0] && !early.outcomes[0].ok, 'held 30 s (+ 60 s of skew): not due after 100 s');
    const due = planBatch(jumped, [expire], records, { ...ctx(), now: issuedAt + 40_000 });
    assert.ok(due.outcomes[0]?.ok, 'due within the tolerated skew');
    assert.equal(due.commit?.events[0]?.ts, issuedAt + 1_800_000, 'stamped no earlier than the last event');
  });

  it('expires a reservation only once it has been held long enough on the committing clock', () => {
    const h = new Harness();
    h.run([alloc(1)]);
    const issuedAt = h.events[0]?.ts ?? 0;
    const expire: Op = { kind: 'release', sequenceNumber: 1, ...A, reason: 'expired', heldAtLeastMs: 30_000 };
    const records = new Map([[1, { ...(h.holders.get(1) as NumberRecord), changedAt: issuedAt }]]);
    const early = planBatch(h.state, [expire], records, { ...ctx(), now: issuedAt + 10_000 });
    assert.ok(early.outcomes[0] && !early.outcomes[0].ok, 'not due at 10 s');
    assert.equal(early.commit, null);
    const due = planBatch(h.state, [expire], records, { ...ctx(), now: issuedAt + 30_000 });
    assert.ok(due.outcomes[0]?.ok, 'due at 30 s');
  });
});

describe('planner: confirm', () => {
  const confirm = (n: number, holder: { siteId: string; partitionId: string } = A): Op => ({ kind: 'confirm', sequenceNumber: n, ...holder });

  it('finalises a held number once; it can no longer be released', () => {
    const h = new Harness();
    h.run([alloc(3)]);
    const first = h.run([confirm(2)]);
    const c = first.outcomes[0];
    assert.ok(c?.ok && c.kind === 'confirm' && !c.alreadyConfirmed);
    assert.deepEqual(first.commit?.events.map((e) => [e.type, e.first]), [['confirm', 2]]);
    assert.deepEqual(first.commit?.numberChanges.map((x) => [x.number, x.status]), [[2, 'confirmed']]);
    const again = h.run([confirm(2)]);
    assert.equal(again.commit, null, 'a second confirm writes nothing');
    const a = again.outcomes[0];
    assert.ok(a?.ok && a.kind === 'confirm' && a.alreadyConfirmed);
    const rel = h.run([release(2)]).outcomes[0];
    assert.ok(rel && !rel.ok && rel.error.code === 'NUMBER_CONFIRMED' && rel.error.httpStatus === 409);
    assert.equal(h.verify().valid, true);
  });

  it('refuses released, never-issued and other holders’ numbers, in the same batch too', () => {
    const h = new Harness();
    h.run([alloc(3)]);
    const plan = h.run([release(1), confirm(1), confirm(9), confirm(3, B), confirm(3), release(3)]);
    const codes = plan.outcomes.map((o) => (o.ok ? o.kind : o.error.code));
    assert.deepEqual(codes, ['release', 'NUMBER_ALREADY_RELEASED', 'NUMBER_NOT_ISSUED', 'HOLDER_MISMATCH', 'confirm', 'NUMBER_CONFIRMED']);
    assert.equal(h.verify().valid, true);
  });
});

describe('planner: closing a series (period rollover)', () => {
  const close: Op = { kind: 'close', reason: 'period 2026 ended' };
  const confirm = (n: number): Op => ({ kind: 'confirm', sequenceNumber: n, ...A });

  it('voids the open gaps, records the close, then issues nothing and voids later releases', () => {
    const h = new Harness();
    h.run([alloc(5)]);
    h.run([release(2), release(4, A, 'cancelled')]);
    const plan = h.run([close]);
    const c = plan.outcomes[0];
    assert.ok(c?.ok && c.kind === 'close' && !c.alreadyClosed && c.voided === 2);
    assert.deepEqual(
      plan.commit?.events.map((e) => [e.type, e.first, e.last]),
      [['void', 2, 2], ['void', 4, 4], ['close', 1, 5]],
    );
    assert.match(plan.commit?.events[1]?.reason ?? '', /period 2026 ended; released: cancelled/);
    assert.equal(h.state.openGaps.length, 0);
    assert.equal(h.state.counters.voided, 2);
    assert.ok(h.state.closedAt !== null);

    const after = h.run([alloc(1), release(3), confirm(5), close]);
    assert.deepEqual(
      after.outcomes.map((o) => (o.ok ? o.kind : o.error.code)),
      ['SERIES_CLOSED', 'release', 'confirm', 'close'],
    );
    const refused = after.outcomes[0];
    assert.ok(refused && !refused.ok && refused.error.httpStatus === 409);
    const rel = after.outcomes[1];
    assert.ok(rel?.ok && rel.kind === 'release' && rel.status === 'void', 'a release in a closed series is void at once');
    const again = after.outcomes[3];
    assert.ok(again?.ok && again.kind === 'close' && again.alreadyClosed);
    assert.equal(h.state.hwm, 5);
    const report = h.verify();
    assert.equal(report.valid, true, JSON.stringify(report));
    assert.equal(report.continuity.void, 3);
  });

  it('closes an empty series with no number range', () => {
    const h = new Harness('lowest-first', 100);
    const plan = h.run([close]);
    assert.deepEqual(plan.commit?.events.map((e) => [e.type, e.first, e.last]), [['close', null, null]]);
    assert.equal(h.verify().valid, true);
  });

  it('the verifier refuses an issue after the close and a state that disagrees about it', () => {
    const h = new Harness();
    h.run([alloc(2)]);
    h.run([close]);
    // Reopened by hand: the trail says closed, the state says open.
    const reopened = { ...h.state, closedAt: null };
    const v = new ChainVerifier('global', 1);
    for (const e of h.events) v.push(e);
    assert.match(v.finish(reopened).continuity.problem ?? '', /closes the series but the stored state is open/);
    // An issue planned on the reopened state is caught as an issue after the close.
    const sneaked = planBatch(reopened, [alloc(1)], new Map(), ctx());
    const v2 = new ChainVerifier('global', 1);
    for (const e of [...h.events, ...(sneaked.commit?.events ?? [])]) v2.push(e);
    const report = v2.finish(sneaked.commit?.next ?? reopened);
    assert.equal(report.valid, false);
    assert.match(report.firstInvalidEvent?.problem ?? '', /issue after the series was closed/);
  });
});

describe('planner: legacy import', () => {
  it('imports a range with its known gaps, accounted for by the trail, and the counter goes on after it', () => {
    const state = emptyState(1);
    const plan = planBatch(state, [{ kind: 'import', last: 500, gaps: [{ number: 17, reason: 'voided' }, { number: 18, reason: 'voided' }, { number: 250, reason: 'credit note' }], reason: 'SAP export' }], new Map(), ctx());
    assert.ok(plan.commit);
    const c = plan.commit;
    assert.deepEqual(c.events.map((e) => [e.type, e.first, e.last]), [['import', 1, 500], ['release', 17, 18], ['void', 17, 18], ['release', 250, 250], ['void', 250, 250]]);
    assert.equal(c.next.hwm, 500);
    assert.deepEqual(c.next.counters, { issued: 500, refilled: 0, released: 3, voided: 3 });
    assert.deepEqual(c.numberChanges.map((n) => [n.number, n.status, n.grant]), [[17, 'void', 1], [18, 'void', 1], [250, 'void', 1]]);
    assert.deepEqual(c.next.openGaps, []);
    const v = new ChainVerifier(state.series, state.start);
    for (const e of c.events) assert.ok(v.push(e), `event ${e.seq} accepted`);
    const report = v.finish({ ...c.next, version: '1' });
    assert.equal(report.valid, true, report.continuity.problem ?? '');
    assert.deepEqual([report.continuity.held, report.continuity.void], [497, 3]);
    const next = planBatch({ ...c.next, version: '1' }, [alloc(2)], new Map(), ctx());
    const o = next.outcomes[0];
    assert.ok(o?.ok && o.kind === 'allocate');
    assert.deepEqual(o.numbers, [501, 502]);
  });

  it('refuses an import into a series that issued numbers, and gaps outside the range', () => {
    const used = planBatch(emptyState(1), [alloc(1)], new Map(), ctx()).commit?.next;
    assert.ok(used);
    const again = planBatch({ ...used, version: '1' }, [{ kind: 'import', last: 10, gaps: [], reason: 'x' }], new Map(), ctx());
    assert.equal(again.commit, null);
    assert.equal(again.outcomes[0]?.ok, false);
    const outside = planBatch(emptyState(1), [{ kind: 'import', last: 10, gaps: [{ number: 11, reason: 'x' }], reason: 'x' }], new Map(), ctx());
    assert.equal(outside.commit, null);
  });
});

describe('planner: maintenance switches', () => {
  it('never commits a switch together with other ops: the switch is refused, the others plan as ordinary ops', () => {
    const plan = planBatch(emptyState(1), [alloc(1), { kind: 'maintenance', enabled: true, reason: 'x' }, alloc(1)], new Map(), ctx());
    assert.equal(plan.outcomes[1]?.ok, false);
    assert.ok(plan.commit);
    assert.equal(plan.commit.maintenance, undefined, 'an ordinary batch: the store checks maintenance for it');
    assert.deepEqual(plan.commit.events.map((e) => e.type), ['issue', 'issue']);
    const alone = planBatch(emptyState(1), [{ kind: 'maintenance', enabled: false, reason: 'y' }], new Map(), ctx());
    assert.equal(alone.commit?.maintenance, false);
  });
});
