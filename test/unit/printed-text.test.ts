import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NumberFormat } from '../../src/domain/number-format.js';
import { DEFAULT_FORMAT, type FormerNumbering, type NumberingProfile } from '../../src/domain/numbering-profile.js';
import { printedTextOf, replacementTime, stampFloorOf, stampLeadProblem } from '../../src/domain/printed-text.js';
import { PLAIN_STRATEGY } from '../../src/domain/series-strategy.js';
import { withNumbering } from '../../src/storage/printed-check.js';
import type { StoreIdentity } from '../../src/storage/sequence-store.js';

const fmt = (prefix: string): NumberFormat => ({ prefix, separator: '-', padding: 4, year: false, timeZone: 'UTC' });
const profile = (prefix: string | null): NumberingProfile => ({ strategy: PLAIN_STRATEGY, formats: prefix === null ? {} : { [DEFAULT_FORMAT]: fmt(prefix) } });
const former = (prefix: string | null, replacedAt?: number): FormerNumbering => ({ ...profile(prefix), ...(replacedAt === undefined ? {} : { replacedAt }) });
const T1 = 1_000_000;
const T2 = 2_000_000;

describe('printed text: each commit shows with the numbering in force at its stamp', () => {
  it('without a former numbering prints with the current one', () => {
    const f = printedTextOf('global', profile('B'));
    assert.equal(f?.(7, 0), 'B-0007');
  });

  it('prints a commit before a recorded change with the numbering it replaced', () => {
    const f = printedTextOf('global', profile('B'), [former('A', T1)]);
    assert.deepEqual([f?.(7, T1 - 1), f?.(7, T1), f?.(7, T2)], ['A-0007', 'B-0007', 'B-0007']);
  });

  it('follows A, then B, then A again', () => {
    const f = printedTextOf('global', profile('A'), [former('A', T1), former('B', T2)]);
    assert.deepEqual([f?.(1, T1 - 1), f?.(1, T1), f?.(1, T2 - 1), f?.(1, T2)], ['A-0001', 'B-0001', 'B-0001', 'A-0001']);
  });

  it('takes a numbering replaced at a start (no time) for the one after it', () => {
    const f = printedTextOf('global', profile('C'), [former('A', T1), former('B')]);
    assert.deepEqual([f?.(1, T1 - 1), f?.(1, T1)], ['A-0001', 'C-0001']);
  });

  it('shows old numbers with their format and new ones without, when the format was removed', () => {
    const f = printedTextOf('global', profile(null), [former('A', T1)]);
    assert.deepEqual([f?.(1, T1 - 1), f?.(1, T1)], ['A-0001', null]);
    assert.equal(printedTextOf('global', profile(null), [former(null, T1)]), null);
  });

  it('is the current numbering for a series whose format the change left alone', () => {
    const other: FormerNumbering = { strategy: PLAIN_STRATEGY, formats: { [DEFAULT_FORMAT]: fmt('B'), 'site-1': fmt('A') }, replacedAt: T1 };
    assert.equal(printedTextOf('global', profile('B'), [other])?.(1, 0), 'B-0001');
    assert.equal(printedTextOf('site-1', profile('B'), [other])?.(1, 0), 'A-0001');
  });

  it('floors stamps at the latest change, and dates a change after every stamp followed', () => {
    assert.equal(stampFloorOf([former('A', T1), former('B'), former('C', T2)]), T2);
    assert.equal(stampFloorOf(undefined), 0);
    // After every stored stamp and the floor before; the recording machine's clock plays no part.
    assert.equal(replacementTime([T1 - 5, T1 + 10], 0), T1 + 11);
    assert.equal(replacementTime([T1], T2), T2 + 1);
    assert.equal(replacementTime([], 0), 1);
  });

  it('refuses to date a change after a stamp more than an hour ahead of the clock', () => {
    const series = [
      { series: 'global', lastEventAt: T1 },
      { series: 'site-1', lastEventAt: T1 + 3_600_000 + 1 },
    ];
    assert.match(stampLeadProblem(T1, series) ?? '', /series "site-1" is stamped .* more than an hour after this machine's clock/);
    assert.equal(stampLeadProblem(T1 + 1, series), null);
    assert.equal(stampLeadProblem(T1, []), null);
  });
});

describe('withNumbering keeps every dated change and each undated numbering once', () => {
  const base: StoreIdentity = { storeId: 's', createdAt: 0, adopted: false, numbering: profile('A') };

  it('keeps A and B of A → B → A, each with its time', () => {
    const ab = withNumbering(base, profile('B'), T1);
    const aba = withNumbering(ab, profile('A'), T2);
    assert.deepEqual(
      aba.formerNumbering?.map((p) => [p.formats[DEFAULT_FORMAT]?.prefix, p.replacedAt]),
      [
        ['A', T1],
        ['B', T2],
      ],
    );
  });

  it('drops an undated numbering equal to the new one or to another undated one', () => {
    const ab = withNumbering(base, profile('B'));
    const aba = withNumbering(ab, profile('A'));
    assert.deepEqual(aba.formerNumbering?.map((p) => p.formats[DEFAULT_FORMAT]?.prefix), ['B']);
  });
});
