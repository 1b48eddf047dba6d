import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GENESIS_HASH } from '../../src/domain/audit-chain.js';
import { ChainVerifier } from '../../src/domain/chain-verifier.js';
import { counterProblems, missingNumberProblem, numberProblem, requestProblem, totalsProblems } from '../../src/domain/derived-diff.js';
import { DerivedReplay, totalsKey } from '../../src/domain/derived-state.js';
import { planBatch } from '../../src/domain/planner.js';
import { checkSavedHead, parseSavedHead } from '../../src/domain/saved-head.js';
import type { AuditEvent, GapPolicy, InvoiceType, NumberRecord, Op, RequestRecord, SeriesState, TotalsDelta } from '../../src/domain/types.js';
import { emptySeriesState } from '../helpers/empty-series-state.js';
import { rng } from '../helpers/rng.js';

const A = { siteId: 'site-1', partitionId: 'partition-a' } as const;
const B = { siteId: 'site-2', partitionId: 'partition-b' } as const;

/**
 * An in-memory store that applies the planner's commits exactly as the real stores do (number
 * changes upserted, totals added, request records put): what verify must find consistent.
 */
class Store {
  state: SeriesState = emptySeriesState();
  readonly events: AuditEvent[] = [];
  /** Records of numbers that left the plain "issued" state, as a store keeps them. */
  readonly numbers = new Map<number, NumberRecord>();
  /** Holders of counter numbers, which the planner is handed for releases and confirms. */
  private readonly issued = new Map<number, NumberRecord>();
  readonly totals = new Map<string, TotalsDelta>();
  readonly requests = new Map<string, RequestRecord>();
  private batch = 0;

  constructor(private readonly policy: GapPolicy = 'lowest-first') {}

  run(ops: Op[]): void {
    const records = new Map<number, NumberRecord>();
    const want = (n: number) => {
      const r = this.numbers.get(n) ?? this.issued.get(n);
      if (r) records.set(n, r);
    };
    const requests = new Map<string, RequestRecord>();
    for (const op of ops) {
      if (op.kind === 'release' || op.kind === 'confirm') want(op.sequenceNumber);
      const known = op.kind === 'allocate' && op.requestId !== undefined ? this.requests.get(op.requestId) : undefined;
      if (known) {
        requests.set(known.key, known);
        known.numbers.forEach(want);
      }
    }
    const now = 1_700_000_000_000 + ++this.batch * 1000;
    const plan = planBatch(this.state, ops, records, {
      batchId: `b${this.batch}`,
      node: 'n1',
      now,
      gapPolicy: this.policy,
      settings: { simulatedEnabled: true },
      requests,
    });
    const c = plan.commit;
    if (!c) return;
    this.state = { ...c.next, version: String(this.batch) };
    this.events.push(...c.events);
    for (const e of c.events) {
      if (e.type !== 'issue' || e.first === null || e.last === null) continue;
      for (let n = e.first; n <= e.last; n++) {
        const holder = { siteId: e.siteId ?? '', partitionId: e.partitionId ?? '', invoiceType: e.invoiceType ?? 'on-cycle' };
        this.issued.set(n, { number: n, status: 'issued', ...holder, reason: null, changedAt: e.ts, grant: e.seq });
      }
    }
    for (const ch of c.numberChanges) this.numbers.set(ch.number, { ...ch, changedAt: c.committedAt });
    for (const t of c.totals) {
      const row = this.totals.get(totalsKey(t)) ?? { ...t, issued: 0, refilled: 0, released: 0 };
      row.issued += t.issued;
      row.refilled += t.refilled;
      row.released += t.released;
      this.totals.set(totalsKey(t), row);
    }
    for (const r of c.requests) this.requests.set(r.key, r);
  }

  /** Every disagreement between this store and its trail, as verify's comparisons find them. */
  problems(): string[] {
    const verifier = new ChainVerifier('global', 1);
    const replay = new DerivedReplay('global');
    for (const e of this.events) {
      assert.ok(verifier.push(e), `event ${e.seq} verifies`);
      replay.push(e);
    }
    replay.finish();
    assert.equal(verifier.finish(this.state).valid, true, 'the chain is valid');
    const problems: string[] = [];
    for (const r of replay.takeRequests()) {
      const p = requestProblem(r, this.requests.get(r.key));
      if (p) problems.push(p);
    }
    problems.push(...counterProblems(this.state.counters, replay.counters));
    problems.push(...totalsProblems([...this.totals.values()], replay.totals, new Map()).problems);
    for (const stored of this.numbers.values()) {
      const p = numberProblem(stored, replay.numbers.get(stored.number));
      if (p) problems.push(p);
    }
    for (const [n, r] of replay.numbers) if (!this.numbers.has(n)) problems.push(missingNumberProblem(n, r));
    return problems;
  }
}

const alloc = (count: number, holder: { siteId: string; partitionId: string } = A, invoiceType: InvoiceType = 'on-cycle', requestId?: string): Op => ({
  kind: 'allocate',
  ...holder,
  invoiceType,
  count,
  requestId,
});
const release = (n: number, holder: { siteId: string; partitionId: string } = A, reason = 'cancelled'): Op => ({ kind: 'release', sequenceNumber: n, ...holder, reason });
const confirm = (n: number, holder: { siteId: string; partitionId: string } = A): Op => ({ kind: 'confirm', sequenceNumber: n, ...holder });

/** A history with every kind of write: releases, refills, confirms, suppressed, voids, keys, a close. */
function richHistory(policy: GapPolicy): Store {
  const s = new Store(policy);
  s.run([alloc(5), alloc(3, B, 'off-cycle', 'k1')]);
  s.run([release(2), release(3, A, 'typo'), confirm(1)]);
  s.run([alloc(1, A, 'suppressed'), alloc(2, B, 'on-cycle', 'k2')]);
  s.run([confirm(2, B), release(7, B, 'lost')]);
  s.run([alloc(4, A, 'simulated', 'k3'), release(5)]);
  s.run([release(12), { kind: 'close', reason: 'period 2026 ended' }]);
  return s;
}

describe('derived-state: a clean history replays to exactly what the store holds', () => {
  for (const policy of ['lowest-first', 'chronological', 'none'] as const) {
    it(`gap policy ${policy}: releases, refills, confirms, suppressed, keys and a close`, () => {
      const s = richHistory(policy);
      assert.ok(s.numbers.size > 3, 'the history left numbers that are not plainly issued');
      assert.ok(s.requests.size >= 3);
      assert.deepEqual(s.problems(), []);
    });
  }

  it('a confirmed number that was refilled, and a close voiding gaps released in its own batch', () => {
    const s = new Store();
    s.run([alloc(4)]);
    s.run([release(2)]);
    s.run([alloc(1, B)]); // refills 2 for B
    s.run([confirm(2, B), release(3), { kind: 'close', reason: 'end' }]);
    assert.equal(s.numbers.get(2)?.status, 'confirmed');
    assert.equal(s.numbers.get(3)?.status, 'void');
    assert.match(s.numbers.get(3)?.reason ?? '', /^end; released: cancelled$/);
    assert.deepEqual(s.problems(), []);
  });

  it('random histories under every policy (seeded)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const policy = (['lowest-first', 'chronological', 'none'] as const)[seed % 3] ?? 'lowest-first';
      const s = new Store(policy);
      const next = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
      for (let b = 0; b < 25; b++) {
        const ops: Op[] = [];
        for (let i = 0, n = 1 + Math.floor(next() * 4); i < n; i++) {
          const holder = pick([A, B]);
          const hwm = Math.max(1, s.state.hwm);
          const roll = next();
          if (roll < 0.45) ops.push(alloc(1 + Math.floor(next() * 3), holder, pick(['on-cycle', 'off-cycle', 'suppressed'] as const), next() < 0.5 ? `k${seed}-${b}-${i}` : undefined));
          else if (roll < 0.75) ops.push(release(1 + Math.floor(next() * hwm), holder, pick(['cancelled', 'expired'])));
          else ops.push(confirm(1 + Math.floor(next() * hwm), holder));
        }
        if (b === 24 && next() < 0.5) ops.push({ kind: 'close', reason: 'period ended' });
        s.run(ops);
      }
      assert.deepEqual(s.problems(), [], `seed ${seed}`);
    }
  });
});

describe('derived-state: every edit of a derived table is a disagreement', () => {
  const edited = (edit: (s: Store) => void) => {
    const s = richHistory('lowest-first');
    edit(s);
    return s.problems();
  };
  const firstOf = (s: Store, status: string) => {
    const r = [...s.numbers.values()].find((x) => x.status === status);
    assert.ok(r, `a ${status} number`);
    return r;
  };

  it('a holder, status, reason or allocation changed', () => {
    assert.match(edited((s) => s.numbers.set(2, { ...firstOf(s, 'confirmed'), number: 2, siteId: 'x' })).join(), /number 2: .*siteId "x" stored/);
    const open = (s: Store) => firstOf(s, 'void');
    assert.match(edited((s) => s.numbers.set(open(s).number, { ...open(s), status: 'open' })).join(), /status "open" stored, "void" by the trail/);
    assert.match(edited((s) => s.numbers.set(open(s).number, { ...open(s), reason: 'other' })).join(), /reason "other" stored/);
    const refilled = (s: Store) => firstOf(s, 'refilled');
    assert.match(edited((s) => s.numbers.set(refilled(s).number, { ...refilled(s), grant: 999 })).join(), /allocation 999 stored/);
  });

  it('a record the trail does not explain, and one missing', () => {
    assert.match(
      edited((s) => s.numbers.set(4, { number: 4, status: 'void', ...A, invoiceType: 'on-cycle', reason: 'x', changedAt: 0, grant: 1 })).join(),
      /number 4 is stored as void but the trail leaves it held/,
    );
    const gone = (s: Store) => firstOf(s, 'void').number;
    assert.match(edited((s) => s.numbers.delete(gone(s))).join(), /is void by the trail .* but has no stored record/);
  });

  it('a grant of 0 (written before allocations were tracked) is not compared', () => {
    const r = (s: Store) => firstOf(s, 'refilled');
    assert.deepEqual(edited((s) => s.numbers.set(r(s).number, { ...r(s), grant: 0 })), []);
  });

  it('totals and counters', () => {
    assert.match(edited((s) => { const t = s.totals.get('site-1/partition-a/on-cycle'); if (t) t.issued += 1; }).join(), /totals of site-1\/partition-a\/on-cycle: issued \d+ stored/);
    assert.match(edited((s) => s.totals.set('x/y/on-cycle', { siteId: 'x', partitionId: 'y', invoiceType: 'on-cycle', issued: 1, refilled: 0, released: 0 })).join(), /totals of x\/y\/on-cycle: issued 1 stored, 0 by the trail/);
    assert.match(edited((s) => { s.state = { ...s.state, counters: { ...s.state.counters, voided: 0 } }; }).join(), /series counter voided: 0 stored/);
  });

  it('totals read while later commits land may lie between the two replays', () => {
    const replayed = new Map([['a/b/on-cycle', { siteId: 'a', partitionId: 'b', invoiceType: 'on-cycle' as const, issued: 5, refilled: 0, released: 1 }]]);
    const later = new Map([['a/b/on-cycle', { siteId: 'a', partitionId: 'b', invoiceType: 'on-cycle' as const, issued: 3, refilled: 0, released: 0 }]]);
    const row = (issued: number) => [{ siteId: 'a', partitionId: 'b', invoiceType: 'on-cycle' as const, issued, refilled: 0, released: 1 }];
    assert.deepEqual(totalsProblems(row(7), replayed, later).problems, []);
    assert.match(totalsProblems(row(9), replayed, later).problems.join(), /issued 9 stored, 5 to 8 by the trail/);
  });

  it('idempotency records: missing, other numbers, other series, not released', () => {
    assert.match(edited((s) => s.requests.delete('k2')).join(), /idempotency key "k2" .* has no stored record/);
    const k1 = (s: Store) => s.requests.get('k1') as RequestRecord;
    assert.match(edited((s) => s.requests.set('k1', { ...k1(s), numbers: [1, 2, 3] })).join(), /"k1" .*numbers \[1-3\] stored, \[6-8\] by the trail/);
    assert.match(edited((s) => s.requests.set('k1', { ...k1(s), series: 'other' })).join(), /series "other" stored/);
    assert.match(edited((s) => s.requests.set('k1', { ...k1(s), released: true })).join(), /released true stored, false by the trail/);
    assert.match(edited((s) => s.requests.set('k1', { ...k1(s), allocation: { first: 1, last: 1 } })).join(), /allocation 1-1 stored/);
  });

  it('the records of refills name the refill event; a suppressed key is released', () => {
    const s = new Store();
    s.run([alloc(3)]);
    s.run([release(2)]);
    s.run([alloc(2, B, 'suppressed', 'ks')]);
    const replay = new DerivedReplay('global');
    for (const e of s.events) replay.push(e);
    replay.finish();
    const [rec] = replay.takeRequests();
    assert.deepEqual(rec && { numbers: rec.numbers, refilled: rec.refilled, released: rec.released }, { numbers: [2, 4], refilled: [2], released: true });
    assert.deepEqual(rec, s.requests.get('ks'));
  });
});

describe('saved head', () => {
  const hash = 'ab'.repeat(32);
  it('parses <seq>:<hash> and refuses anything else with a 400 naming head', () => {
    assert.deepEqual(parseSavedHead(`57:${hash}`), { seq: 57, hash });
    for (const bad of ['57', `x:${hash}`, `57:${hash.toUpperCase()}`, `57:${hash}0`, `-1:${hash}`, `057:${hash}`]) {
      assert.throws(() => parseSavedHead(bad), (e: Error & { code?: string; field?: string }) => e.code === 'VALIDATION_ERROR' && e.field === 'head', bad);
    }
  });
  it('is valid while that event is in the trail with that hash', () => {
    assert.equal(checkSavedHead({ seq: 5, hash }, { seq: 5, hash }, 9).valid, true);
    assert.equal(checkSavedHead({ seq: 0, hash: GENESIS_HASH }, undefined, 0).valid, true);
    assert.equal(checkSavedHead({ seq: 5, hash }, undefined, 4).problem, 'trail truncated: event 5 saved by the caller is missing');
    assert.equal(checkSavedHead({ seq: 5, hash }, { seq: 5, hash: 'cd'.repeat(32) }, 9).problem, "event 5's hash differs from the saved one: history rewritten");
    assert.match(checkSavedHead({ seq: 5, hash }, { seq: 5, hash }, 4).problem ?? '', /rolled back/);
  });
});
