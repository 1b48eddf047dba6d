import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { planBatch } from '../../src/domain/planner.js';
import { edgeNumbers, refillProblem, stateProblem, type TrailFacts } from '../../src/domain/series-state-check.js';
import { emptySeriesState } from '../helpers/empty-series-state.js';
import { GAP_POLICIES, INVOICE_TYPES, type AuditEvent, type GapPolicy, type NumberRecord, type Op, type SeriesState } from '../../src/domain/types.js';

const HOLDER = { siteId: 'site-1', partitionId: 'partition-a' } as const;

/** Events and per-number records as a store keeps them: what the probe reads. */
class Ledger {
  state: SeriesState = emptySeriesState();
  readonly events: AuditEvent[] = [];
  readonly refillProblems: (string | null)[] = [];
  private readonly changed = new Set<number>();
  private t = 1_700_000_000_000;

  constructor(private readonly policy: GapPolicy) {}

  apply(ops: Op[]): void {
    const plan = planBatch(this.state, ops, this.records(ops), {
      batchId: `b${this.t}`,
      node: 'n1',
      now: ++this.t,
      gapPolicy: this.policy,
      settings: { simulatedEnabled: true },
    });
    if (!plan.commit) return;
    // Every refill the planner makes must pass the check made before a gap is refilled.
    // (a gap released and refilled within this batch is not in the trail yet: not checked)
    const wasOpen = new Set(this.state.openGaps.map((g) => g.number));
    for (const c of plan.commit.numberChanges) {
      if (c.status === 'refilled' && wasOpen.has(c.number)) this.refillProblems.push(refillProblem(c.number, this.lastEventOn(c.number)));
    }
    this.state = { ...plan.commit.next, version: String(Number(this.state.version) + 1) };
    this.events.push(...plan.commit.events);
    for (const c of plan.commit.numberChanges) this.changed.add(c.number);
  }

  /** The holder records the planner asks for, derived as the stores do: from the trail. */
  private records(ops: Op[]): Map<number, NumberRecord> {
    const out = new Map<number, NumberRecord>();
    for (const op of ops) {
      if (op.kind !== 'release' && op.kind !== 'confirm') continue;
      const n = op.sequenceNumber;
      const last = this.lastEventOn(n, true);
      if (!last) continue;
      const status = last.type === 'release' ? 'open' : last.type === 'void' ? 'void' : last.type === 'refill' ? 'refilled' : last.type === 'confirm' ? 'confirmed' : 'issued';
      const grant = [...this.events].reverse().find((e) => (e.type === 'issue' || e.type === 'refill') && (e.first ?? 0) <= n && n <= (e.last ?? -1));
      out.set(n, {
        number: n,
        status,
        siteId: last.siteId ?? '',
        partitionId: last.partitionId ?? '',
        invoiceType: last.invoiceType ?? 'on-cycle',
        reason: last.reason,
        changedAt: last.ts,
        grant: grant?.seq ?? 0,
      });
    }
    return out;
  }

  lastEventOn(n: number, skipClose = false): AuditEvent | undefined {
    return [...this.events]
      .reverse()
      .find((e) => e.first !== null && e.last !== null && e.first <= n && n <= e.last && !(skipClose && e.type === 'close'));
  }

  facts(state: SeriesState = this.state): TrailFacts {
    const issuedUpTo = Math.max(0, ...this.events.filter((e) => e.type === 'issue').map((e) => e.last ?? 0));
    const edge = new Map<number, NumberRecord>();
    for (const n of edgeNumbers(state)) {
      if (n >= 1 && (n <= issuedUpTo || this.changed.has(n))) edge.set(n, { number: n } as NumberRecord);
    }
    return {
      head: this.events.filter((e) => e.seq >= state.eventSeq && state.eventSeq > 0).slice(0, 2),
      edge,
    };
  }
}

const opArb = fc.oneof(
  fc.record({ kind: fc.constant('allocate' as const), count: fc.integer({ min: 1, max: 3 }), invoiceType: fc.constantFrom(...INVOICE_TYPES) }),
  fc.record({ kind: fc.constant('release' as const), n: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('confirm' as const), n: fc.integer({ min: 1, max: 30 }) }),
);

function toOp(o: { kind: string; count?: number; invoiceType?: (typeof INVOICE_TYPES)[number]; n?: number }): Op {
  if (o.kind === 'allocate') return { kind: 'allocate', ...HOLDER, invoiceType: o.invoiceType ?? 'on-cycle', count: o.count ?? 1 };
  if (o.kind === 'release') return { kind: 'release', ...HOLDER, sequenceNumber: o.n ?? 1, reason: 'r' };
  return { kind: 'confirm', ...HOLDER, sequenceNumber: o.n ?? 1 };
}

describe('series state checked against its trail', () => {
  it('never objects to a state the planner left, under every gap policy, before and after a close', () => {
    fc.assert(
      fc.property(fc.constantFrom(...GAP_POLICIES), fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { maxLength: 25 }), fc.boolean(), (policy, batches, close) => {
        const ledger = new Ledger(policy);
        for (const batch of batches) {
          ledger.apply(batch.map(toOp));
          assert.equal(stateProblem(ledger.state, ledger.facts()), null);
        }
        assert.deepEqual(ledger.refillProblems.filter((p) => p !== null), []);
        if (close) {
          ledger.apply([{ kind: 'close', reason: 'period ended' }]);
          ledger.apply([{ kind: 'release', ...HOLDER, sequenceNumber: 1, reason: 'late' }]);
          assert.equal(stateProblem(ledger.state, ledger.facts()), null);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('objects to a HWM moved either way, a head that is not the last event, and gaps the trail did not leave open', () => {
    const ledger = new Ledger('lowest-first');
    ledger.apply([toOp({ kind: 'allocate', count: 3, invoiceType: 'on-cycle' }), toOp({ kind: 'release', n: 2 })]);
    assert.equal(refillProblem(2, ledger.lastEventOn(2)), null, 'released: open');
    ledger.apply([toOp({ kind: 'allocate', count: 2, invoiceType: 'on-cycle' })]);
    const s = ledger.state;
    assert.equal(stateProblem(s, ledger.facts()), null);
    const check = (bad: SeriesState) => stateProblem(bad, ledger.facts(bad));
    assert.match(check({ ...s, hwm: s.hwm - 1 }) ?? '', /trail issued/);
    assert.match(check({ ...s, hwm: s.hwm + 1 }) ?? '', /never issued/);
    assert.match(check({ ...s, eventSeq: s.eventSeq - 1 }) ?? '', /goes on/);
    assert.match(check({ ...s, lastHash: 'f00d' }) ?? '', /hash/);
    const counters = { ...s.counters, released: s.counters.released + 1 };
    const gap = { number: 1, reason: 'x', ...HOLDER, invoiceType: 'on-cycle' as const, releasedAt: 0, grant: 1 };
    assert.match(check({ ...s, openGaps: [...s.openGaps, gap] }) ?? '', /counters leave/);
    assert.equal(check({ ...s, openGaps: [gap], counters }), null, 'counts agree: the gap itself is checked when refilled');
    assert.match(refillProblem(1, ledger.lastEventOn(1)) ?? '', /number 1 .*issue event/);
    assert.match(refillProblem(2, ledger.lastEventOn(2)) ?? '', /refill event/, 'refilled since its release: no longer open');
    assert.equal(refillProblem(2, undefined), null, 'the store cannot tell: not a contradiction');
  });
});
