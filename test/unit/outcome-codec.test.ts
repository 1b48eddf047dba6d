import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HolderMismatchError, SeriesStateMismatchError, StoreUnavailableError } from '../../src/domain/errors/index.js';
import type { Outcome } from '../../src/domain/planner.js';
import { decodeOutcome, encodeOutcome } from '../../src/service/forwarding/outcome-codec.js';

const roundTrip = (o: Outcome) => decodeOutcome(JSON.parse(JSON.stringify(encodeOutcome(o))) as ReturnType<typeof encodeOutcome>);

describe('outcomes forwarded between instances', () => {
  it('keep allocations as they are', () => {
    const o: Outcome = { ok: true, kind: 'allocate', numbers: [4, 9, 10], refilled: [4], released: false, allocation: { first: 3, last: 4 } };
    assert.deepEqual(roundTrip(o), o);
  });

  it('come back as the same typed refusal, with its field and details', () => {
    const back = roundTrip({
      ok: false,
      error: new HolderMismatchError('number 7 is held by site-2/partition-a', { field: 'siteId', details: { heldBy: { siteId: 'site-2' } } }),
    });
    assert.equal(back.ok, false);
    if (back.ok) return;
    assert.ok(back.error instanceof HolderMismatchError);
    assert.equal(back.error.httpStatus, 409);
    assert.equal(back.error.field, 'siteId');
    assert.deepEqual(back.error.details, { heldBy: { siteId: 'site-2' } });
  });

  it('keep a stopped series a stopped series (not a retryable STORE_UNAVAILABLE) on the instance that forwarded', () => {
    const back = roundTrip({ ok: false, error: new SeriesStateMismatchError('series "global" is stopped', { details: { series: 'global', problem: 'p' } }) });
    assert.ok(!back.ok && back.error instanceof SeriesStateMismatchError && back.error.httpStatus === 503 && !back.error.retryable);
    assert.deepEqual(back.error.details, { series: 'global', problem: 'p' });
  });

  it('turn an unknown error code into a retryable 503', () => {
    const back = decodeOutcome({ ok: false, error: { code: 'SOMETHING_NEW', message: 'x' } });
    assert.ok(!back.ok && back.error instanceof StoreUnavailableError && back.error.retryable);
  });
});

describe('every refusal the planner can give crosses the wire as itself', () => {
  it('keeps the class and status of each planner error (a missing one would turn into a 503)', async () => {
    const { readFileSync } = await import('node:fs');
    const planner = readFileSync(new URL('../../src/domain/planner.ts', import.meta.url), 'utf8');
    const errors = await import('../../src/domain/errors/index.js');
    const used = Object.entries(errors).filter(([name]) => name.endsWith('Error') && new RegExp(`new ${name}\\(`).test(planner));
    assert.ok(used.length >= 7, `planner errors found: ${used.map(([n]) => n).join(', ')}`);
    for (const [name, Cls] of used) {
      const e = new (Cls as new (m: string) => InstanceType<typeof HolderMismatchError>)('m');
      const back = roundTrip({ ok: false, error: e });
      const error = back.ok ? null : back.error;
      const same = error !== null && Object.is(error.constructor, Cls);
      assert.ok(same, `${name} came back as ${error?.constructor.name ?? 'ok'}`);
      assert.equal(error?.httpStatus, e.httpStatus);
    }
  });
});
