import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sealEvent } from '../../src/domain/audit-chain.js';
import { ChainVerifier } from '../../src/domain/chain-verifier.js';
import { planBatch, type PlanContext } from '../../src/domain/planner.js';
import { stateProblem } from '../../src/domain/series-state-check.js';
import type { ArchiveOp, AuditEvent, Op, SeriesState } from '../../src/domain/types.js';
import { emptySeriesState } from '../helpers/empty-series-state.js';

const A = { siteId: 'site-1', partitionId: 'partition-a' } as const;
let t = 1_700_000_000_000;
const ctx = (): PlanContext => ({ batchId: `b${++t}`, node: 'n1', now: t, gapPolicy: 'lowest-first', settings: { simulatedEnabled: true } });

/** A series driven through the planner, its events kept as a store would. */
function run(ops: Op[][]): { state: SeriesState; events: AuditEvent[] } {
  let state = emptySeriesState();
  const events: AuditEvent[] = [];
  for (const batch of ops) {
    const plan = planBatch(state, batch, new Map(), ctx());
    assert.ok(plan.commit, JSON.stringify(plan.outcomes));
    state = { ...plan.commit.next, version: String(Number(state.version) + 1) };
    events.push(...plan.commit.events);
  }
  return { state, events };
}

const archiveOf = (s: SeriesState): ArchiveOp => ({ kind: 'archive', file: '/a/x.seqd-archive', sha256: 'f'.repeat(64), headSeq: s.eventSeq, headHash: s.lastHash, reason: 'retention' });
const closed = () => run([[{ kind: 'allocate', ...A, invoiceType: 'on-cycle', count: 10 }], [{ kind: 'close', reason: 'period ended' }]]);

describe('archive (planner and verifier)', () => {
  it('refuses an open series, a head the series moved past, and an archive mixed with other ops', () => {
    const open = run([[{ kind: 'allocate', ...A, invoiceType: 'on-cycle', count: 3 }]]).state;
    const refusal = (state: SeriesState, ops: Op[]) => planBatch(state, ops, new Map(), ctx()).outcomes.map((o) => (o.ok ? 'ok' : o.error.message));
    assert.match(refusal(open, [archiveOf(open)])[0] ?? '', /is open: close it/);
    const { state } = closed();
    assert.match(refusal(state, [{ ...archiveOf(state), headSeq: state.eventSeq - 1 }])[0] ?? '', /not at event 1 where the archive ends/);
    assert.match(refusal(state, [{ ...archiveOf(state), headHash: '0'.repeat(64) }])[0] ?? '', /write the archive again/);
    assert.match(refusal(state, [archiveOf(state), { kind: 'close', reason: 'x' }])[0] ?? '', /batch of its own/);
  });

  it('marks the series; every op after it is refused with where it went', () => {
    const { state, events } = closed();
    const plan = planBatch(state, [archiveOf(state)], new Map(), ctx());
    const e = plan.commit?.events[0];
    assert.deepEqual([e?.type, e?.first, e?.last, e?.prevHash], ['archive', 1, 10, state.lastHash]);
    assert.match(e?.reason ?? '', /archived to \/a\/x\.seqd-archive \(sha256 f{64}, events 1\.\.2; issued 10, refilled 0, released 0, void 0\): retention/);
    const archived = { ...(plan.commit?.next as SeriesState), version: '9' };
    assert.equal(archived.archived?.headSeq, state.eventSeq);
    const after = planBatch(archived, [{ kind: 'release', sequenceNumber: 3, ...A, reason: 'late' }, { kind: 'close', reason: 'again' }], new Map(), ctx());
    assert.equal(after.commit, null);
    for (const o of after.outcomes) assert.equal(o.ok ? 'ok' : `${o.error.code} ${o.error.httpStatus}`, 'SERIES_ARCHIVED 410');

    // The whole trail verifies from the genesis; the trail after the mark verifies from its head.
    const all = new ChainVerifier(state.series, 1);
    for (const ev of [...events, e as AuditEvent]) all.push(ev);
    assert.equal(all.finish(archived).valid, true);
    const mark = archived.archived ?? assert.fail('no mark');
    const tail = new ChainVerifier(state.series, 1, { mark, hwm: archived.hwm, voided: 0 });
    tail.push(e as AuditEvent);
    const report = tail.finish(archived);
    assert.equal(report.valid, true, report.continuity.problem ?? '');
    assert.equal(report.continuity.held, 10);
    // The live-state check does not look for number records the archive took away.
    assert.equal(stateProblem(archived, { head: [e as AuditEvent], edge: new Map() }), null);
    assert.match(stateProblem({ ...archived, archived: null }, { head: [e as AuditEvent], edge: new Map() }) ?? '', /never issued/);
  });

  it('catches an archive event that does not link to the mark, an event after it, and a state without the mark', () => {
    const { state } = closed();
    const e = planBatch(state, [archiveOf(state)], new Map(), ctx()).commit?.events[0] as AuditEvent;
    const archived = { ...state, eventSeq: e.seq, lastHash: e.hash, archived: { file: 'f', sha256: 'f'.repeat(64), headSeq: state.eventSeq, headHash: '1'.repeat(64), archivedAt: t } };
    const wrongHead = new ChainVerifier(state.series, 1, { mark: archived.archived, hwm: 10, voided: 0 });
    wrongHead.push(e);
    assert.match(wrongHead.finish(archived).firstInvalidEvent?.problem ?? '', /previous-hash link/);
    const other = closed();
    const e2 = planBatch(other.state, [archiveOf(other.state)], new Map(), ctx()).commit?.events[0] as AuditEvent;
    const v = new ChainVerifier(other.state.series, 1);
    for (const ev of [...other.events, e2]) v.push(ev);
    assert.match(v.finish({ ...other.state, eventSeq: e2.seq, lastHash: e2.hash }).continuity.problem ?? '', /archives the series but the stored state does not say so/);
    const later = planBatch(other.state, [{ kind: 'close', reason: 'x' }], new Map(), ctx());
    assert.equal(later.outcomes[0]?.ok, true, 'closing twice is a no-op, not an event');
    const { hash: _hash, ...unsealed } = { ...e2, seq: e2.seq + 1, prevHash: e2.hash, type: 'issue' as const, first: 11, last: 11, ...A, invoiceType: 'on-cycle' as const };
    const forged = sealEvent(unsealed);
    const v2 = new ChainVerifier(other.state.series, 1);
    for (const ev of [...other.events, e2, forged]) v2.push(ev);
    assert.match(v2.finish(other.state).firstInvalidEvent?.problem ?? '', /issue after the series was archived by event 3/);
  });
});
