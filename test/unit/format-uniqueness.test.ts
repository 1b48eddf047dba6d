import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/config-loader.js';
import type { SeqdConfig } from '../../src/config/config-schema.js';
import { ConfigError } from '../../src/domain/errors/index.js';
import { numberFormatter, seriesValuesOf, type NumberFormat } from '../../src/domain/number-format.js';
import { seriesFor, type SeriesStrategy } from '../../src/domain/series-strategy.js';
import { INVOICE_TYPES } from '../../src/domain/types.js';
import { SeriesDirectory } from '../../src/service/series-directory.js';
import type { SequenceStore } from '../../src/storage/sequence-store.js';

const JUNE_2026 = Date.parse('2026-06-15T12:00:00Z');
const NOV_2026 = Date.parse('2026-11-15T12:00:00Z');
const DEC_2026 = Date.parse('2026-12-15T12:00:00Z');
const JUNE_2027 = Date.parse('2027-06-15T12:00:00Z');

function load(sequence: Record<string, unknown>): SeqdConfig {
  return loadConfig({ env: {}, overrides: { sequence } }).config;
}

function refused(sequence: Record<string, unknown>): ConfigError {
  try {
    load(sequence);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail(`accepted: ${JSON.stringify(sequence)}`);
}

function toFormat(f: NonNullable<SeqdConfig['sequence']['format']>): NumberFormat {
  return { prefix: f.prefix, year: f.year, padding: f.padding, separator: f.separator, timeZone: f['time-zone'] };
}

/** Prints as a running seqd does: the series a request maps to, and its formatter (null: not printed). */
function printerOf(config: SeqdConfig) {
  const s = config.sequence.series;
  const strategy: SeriesStrategy = {
    splitBy: s['split-by'],
    rollover: s.rollover.enabled ? { period: s.rollover.period, timeZone: s.rollover['time-zone'] } : null,
  };
  const first = config.sequence.sites[0];
  const directory = new SeriesDirectory({
    strategy,
    store: {} as SequenceStore, // formatting reads no store
    start: config.sequence.core['global-counter-start'],
    defaultKey: { siteId: first?.id ?? '', partitionId: first?.partitions[0] ?? '', invoiceType: 'on-cycle' },
    format: config.sequence.format && toFormat(config.sequence.format),
    formats: new Map(Object.entries(s.formats).map(([base, f]) => [base, toFormat(f)])),
  });
  const keys = config.sequence.sites.flatMap((site) =>
    site.partitions.flatMap((partitionId) => INVOICE_TYPES.map((invoiceType) => ({ siteId: site.id, partitionId, invoiceType }))),
  );
  return {
    keys,
    print(key: (typeof keys)[number], n: number, at: number): { series: string; printed: string | null } {
      const series = seriesFor(strategy, key, at);
      const f = directory.formatterOf(series);
      return { series, printed: f ? f(n, at) : null };
    },
  };
}

describe('format tokens', () => {
  it('fills in the series values, and year and month of the commit or of the period', () => {
    const f = numberFormatter(
      { prefix: 'INV-{site}-{partition}-{type}/{yyyy}{mm}', year: false, padding: 6, separator: '-', timeZone: 'Europe/Berlin' },
      { site: 'site-1', partition: 'partition-a', type: 'on-cycle' },
    );
    assert.equal(f(7, JUNE_2026), 'INV-site-1-partition-a-on-cycle/202606-000007');
    // 23:30 UTC on 31 December is January in Berlin.
    assert.equal(f(8, Date.parse('2026-12-31T23:30:00Z')), 'INV-site-1-partition-a-on-cycle/202701-000008');
    // A monthly period wins over the commit time; a yearly one gives the year, the month stays within it.
    assert.equal(f(9, Date.parse('2027-01-01T00:00:10Z'), '2026-12'), 'INV-site-1-partition-a-on-cycle/202612-000009');
    assert.equal(f(9, Date.parse('2027-01-01T00:00:10Z'), '2026'), 'INV-site-1-partition-a-on-cycle/202612-000009');
    assert.equal(f(9, Date.parse('2025-12-31T12:00:00Z'), '2026'), 'INV-site-1-partition-a-on-cycle/202601-000009');
    assert.equal(f(9, JUNE_2026, '2026'), 'INV-site-1-partition-a-on-cycle/202606-000009');
  });

  it('prints year: true as before', () => {
    const f = numberFormatter({ prefix: 'INV', year: true, padding: 6, separator: '-', timeZone: 'Europe/Berlin' });
    assert.equal(f(123, JUNE_2026), 'INV-2026-000123');
    assert.equal(f(124, Date.parse('2026-12-31T23:30:00Z')), 'INV-2027-000124');
    assert.equal(f(124, Date.parse('2026-12-31T23:30:00Z'), '2026'), 'INV-2026-000124');
    assert.equal(numberFormatter({ prefix: '', year: true, padding: 0, separator: '', timeZone: 'UTC' })(5, JUNE_2026), '20265');
  });

  it('reads the values of a series base in split-by order', () => {
    assert.deepEqual(seriesValuesOf([], 'global'), {});
    assert.deepEqual(seriesValuesOf(['invoice-type', 'site'], 'off-cycle:site-2'), { type: 'off-cycle', site: 'site-2' });
    assert.deepEqual(seriesValuesOf(['site', 'partition'], 'site-1:partition-a'), { site: 'site-1', partition: 'partition-a' });
  });
});

describe('formats that cannot keep printed numbers unique are refused at start', () => {
  const inv = { prefix: 'INV', year: true, padding: 6 };

  it('split by site: site-1 and site-2 would both print INV-2026-000001', () => {
    const e = refused({ format: inv, series: { 'split-by': ['site'] } });
    assert.equal(e.key, 'sequence.format.prefix');
    assert.match(e.message, /"site-1" and "site-2"/);
    assert.match(e.message, /INV-2026-000001/);
    assert.match(e.message, /\{site\}/);
  });

  it('split by site and invoice type', () => {
    const e = refused({ format: inv, series: { 'split-by': ['site', 'invoice-type'] } });
    assert.equal(e.key, 'sequence.format.prefix');
    assert.match(e.message, /\{site\} and \{type\}/);
  });

  it('monthly rollover without the month: November and December', () => {
    const e = refused({ format: inv, series: { rollover: { enabled: true, period: 'monthly' } } });
    assert.equal(e.key, 'sequence.format.prefix');
    assert.match(e.message, /global@2026-11" and "global@2026-12" both print "INV-2026-000001"/);
    assert.match(e.message, /\{mm\}/);
  });

  it('yearly rollover without the year', () => {
    const e = refused({ format: { ...inv, year: false }, series: { rollover: { enabled: true } } });
    assert.equal(e.key, 'sequence.format.year');
    assert.match(e.message, /global@2026" and "global@2027" both print "INV-000001"/);
    const m = refused({ format: { ...inv, year: false, prefix: 'INV-{mm}' }, series: { rollover: { enabled: true, period: 'monthly' } } });
    assert.equal(m.key, 'sequence.format.year');
  });

  it('per-series formats sharing one prefix, with each other or with sequence.format', () => {
    const e = refused({ series: { 'split-by': ['site'], formats: { 'site-1': inv, 'site-2': inv } } });
    assert.equal(e.key, 'sequence.series.formats.site-2.prefix');
    assert.match(e.message, /sequence\.series\.formats\.site-1/);
    const d = refused({ format: { prefix: 'S1' }, series: { 'split-by': ['site'], formats: { 'site-2': { prefix: 'S1', padding: 4 } } } });
    assert.equal(d.key, 'sequence.series.formats.site-2.prefix');
    assert.match(d.message, /sequence\.format and sequence\.series\.formats\.site-2/);
    // Different paddings still meet once the numbers outgrow them: S1-10000.
    assert.match(d.message, /"S1-10000"/);
  });

  it('a year written out where another series prints its year', () => {
    const e = refused({ series: { 'split-by': ['site'], formats: { 'site-1': { prefix: 'X-{yyyy}' }, 'site-2': { prefix: 'X-2031' } } } });
    assert.equal(e.key, 'sequence.series.formats.site-2.prefix');
    assert.match(e.message, /X-2031-/);
  });

  it('ids whose values print alike', () => {
    const e = refused({
      format: { prefix: '{site}-{partition}' },
      series: { 'split-by': ['site', 'partition'] },
      sites: [{ id: 'a-b', partitions: ['c'] }, { id: 'a', partitions: ['b-c'] }],
    });
    assert.match(e.message, /"a-b:c" and "a:b-c"/);
    load({ format: { prefix: '{site}/{partition}' }, series: { 'split-by': ['site', 'partition'] }, sites: [{ id: 'a-b', partitions: ['c'] }, { id: 'a', partitions: ['b-c'] }] });
  });

  it('a frame ending with a digit when frames differ in length', () => {
    const e = refused({ series: { 'split-by': ['site'], formats: { 'site-1': { prefix: 'A1', separator: '' }, 'site-2': { prefix: 'A', separator: '' } } } });
    assert.equal(e.key, 'sequence.series.formats.site-1.separator');
    assert.match(e.message, /ends with a digit/);
    const y = refused({ format: { prefix: '{site}', year: true, separator: '' }, series: { 'split-by': ['site'] }, sites: [{ id: 's', partitions: ['p'] }, { id: 's2', partitions: ['p'] }] });
    assert.equal(y.key, 'sequence.format.separator');
  });

  it('tokens: unknown ones, lone braces, and values the series are not split by', () => {
    assert.equal(refused({ format: { prefix: 'INV-{foo}' } }).key, 'sequence.format.prefix');
    assert.equal(refused({ format: { prefix: 'INV{' } }).key, 'sequence.format.prefix');
    assert.equal(refused({ series: { 'split-by': ['site'], formats: { 'site-1': { prefix: '{x}' } } } }).key, 'sequence.series.formats.site-1.prefix');
    const e = refused({ format: { prefix: 'INV-{site}-{type}' }, series: { 'split-by': ['site'] } });
    assert.equal(e.key, 'sequence.format.prefix');
    assert.match(e.message, /\{type\}.*not split by invoice-type/);
  });

  it('partition without site', () => {
    for (const splitBy of [['partition'], ['partition', 'invoice-type'], ['invoice-type', 'partition']]) {
      const e = refused({ series: { 'split-by': splitBy } });
      assert.equal(e.key, 'sequence.series.split-by');
      assert.match(e.message, /partition needs site/);
    }
    load({ series: { 'split-by': ['partition', 'site'] } });
  });
});

describe('formats with tokens are accepted and print distinct numbers', () => {
  /** Every printed number of every series at these times, refusing two series printing one text. */
  function assertUnique(config: SeqdConfig, times: readonly number[], numbers: readonly number[]): Map<string, string> {
    const p = printerOf(config);
    const owner = new Map<string, string>();
    for (const at of times) {
      for (const key of p.keys) {
        for (const n of numbers) {
          const { series, printed } = p.print(key, n, at);
          if (printed === null) continue;
          const prev = owner.get(printed);
          assert.ok(prev === undefined || prev === series, `"${printed}" printed by ${prev} and ${series}`);
          owner.set(printed, series);
        }
      }
    }
    return owner;
  }

  it('split by site, by site and type, monthly and yearly rollover, per-series formats', () => {
    const site = load({ format: { prefix: 'INV-{site}', year: true, padding: 6 }, series: { 'split-by': ['site'] } });
    const printed = printerOf(site);
    const [s1, , , , , , , , s2] = printed.keys;
    assert.ok(s1 && s2);
    assert.equal(printed.print(s1, 1, JUNE_2026).printed, 'INV-site-1-2026-000001');
    assert.equal(printed.print(s2, 1, JUNE_2026).printed, 'INV-site-2-2026-000001');
    assertUnique(site, [JUNE_2026, JUNE_2027], [1, 2, 999_999, 1_000_000]);

    assertUnique(load({ format: { prefix: 'INV-{site}-{type}', year: true, padding: 6 }, series: { 'split-by': ['site', 'invoice-type'] } }), [JUNE_2026], [1, 2]);

    const monthly = load({ format: { prefix: 'INV-{yyyy}-{mm}', padding: 6 }, series: { rollover: { enabled: true, period: 'monthly' } } });
    const m = printerOf(monthly);
    assert.deepEqual(m.print(s1, 1, NOV_2026), { series: 'global@2026-11', printed: 'INV-2026-11-000001' });
    assert.deepEqual(m.print(s1, 1, DEC_2026), { series: 'global@2026-12', printed: 'INV-2026-12-000001' });
    assertUnique(monthly, [NOV_2026, DEC_2026, JUNE_2027], [1, 2]);

    const yearly = load({ format: { prefix: 'INV-{yyyy}', padding: 6 }, series: { rollover: { enabled: true } } });
    assert.deepEqual(printerOf(yearly).print(s1, 1, JUNE_2027), { series: 'global@2027', printed: 'INV-2027-000001' });

    const own = load({ format: { prefix: 'INV', year: true }, series: { 'split-by': ['site'], formats: { 'site-2': { prefix: 'INV2', year: true } } }, sites: [{ id: 'site-1', partitions: ['p'] }, { id: 'site-2', partitions: ['p'] }] });
    assertUnique(own, [JUNE_2026], [1, 2026, 20261]);
  });

  it('keeps the shipped profiles and a single series with year: true and no separator', () => {
    for (const profile of [undefined, 'poc', 'ha-poc']) loadConfig({ env: {}, profile });
    const prod = loadConfig({ env: { SEQD_API_KEYS: 'ops:admin:0123456789abcdefXYZ' }, profile: 'production', overrides: { server: { tls: { cert: 'c', key: 'k' } } } });
    assert.equal(prod.config.sequence.format, undefined);
    // One series (or one per year) with frames of one length: nothing to confuse.
    load({ format: { prefix: 'RE', year: true, separator: '', padding: 6 } });
    load({ format: { prefix: 'RE', year: true, separator: '', padding: 6 }, series: { rollover: { enabled: true } } });
    load({ format: { prefix: 'INV', year: true, padding: 6 }, series: { rollover: { enabled: true } } });
    // Series without a format print nothing: only the formatted ones are compared.
    load({ series: { 'split-by': ['site'], formats: { 'site-1': { prefix: 'A' } } } });
  });
});

describe('property: for random configurations accepted at start, no two series print the same number', () => {
  const SITE_IDS = ['s', 's1', 's12', 's-1', '1', '12', 'a', 'a-b', '2026'];
  const PARTITION_IDS = ['p', 'p1', 'p-1', '1', 'b', 'b-c', 'c'];
  const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Pacific/Kiritimati'];
  const PIECES = ['{site}', '{partition}', '{type}', '{yyyy}', '{mm}', 'INV', 'A', 'A1', '1', '-', '/', '.', '2026', '2027', '11', 'X'];

  const sites = fc
    .uniqueArray(fc.constantFrom(...SITE_IDS), { minLength: 1, maxLength: 3 })
    .chain((ids) =>
      fc.tuple(...ids.map((id) => fc.uniqueArray(fc.constantFrom(...PARTITION_IDS), { minLength: 1, maxLength: 2 }).map((partitions) => ({ id, partitions })))),
    );
  const splitBy = fc.shuffledSubarray(['site', 'partition', 'invoice-type'] as const);
  /** A prefix: often the tokens of the split-by dimensions (and of the period), plus random pieces. */
  const prefix = (dims: readonly string[], period: string) =>
    fc
      .tuple(
        fc.boolean(),
        fc.array(fc.constantFrom(...PIECES), { maxLength: 4 }),
        fc.constantFrom('', 'INV-', 'R', 'A1'),
        fc.constantFrom('-', '/', '.', ''),
      )
      .map(([wellFormed, pieces, lead, joiner]) => {
        if (!wellFormed) return pieces.join('');
        const tokens = dims.map((d) => (d === 'invoice-type' ? '{type}' : `{${d}}`));
        if (period !== 'none') tokens.push('{yyyy}');
        if (period === 'monthly') tokens.push('{mm}');
        return lead + [...tokens, ...pieces.slice(0, 1)].join(joiner);
      });
  const format = (dims: readonly string[], period: string) =>
    fc.record({
      prefix: prefix(dims, period),
      year: fc.boolean(),
      padding: fc.integer({ min: 0, max: 4 }),
      separator: fc.constantFrom('-', '', '/', '1', '.'),
      'time-zone': fc.constantFrom(...ZONES),
    });
  const config = fc
    .record({ sites, splitBy, period: fc.constantFrom('none', 'yearly', 'monthly'), rolloverZone: fc.constantFrom(...ZONES), withDefault: fc.boolean() })
    .chain(({ sites, splitBy, period, rolloverZone, withDefault }) => {
      const bases = [
        ...new Set(
          sites.flatMap((s) =>
            s.partitions.flatMap((p) =>
              INVOICE_TYPES.map((t) => (splitBy.length ? splitBy.map((d) => (d === 'site' ? s.id : d === 'partition' ? p : t)).join(':') : 'global')),
            ),
          ),
        ),
      ];
      return fc.record({
        format: withDefault ? format(splitBy, period) : fc.constant(undefined),
        formats: fc.subarray(bases, { maxLength: Math.min(3, bases.length) }).chain((chosen) => fc.tuple(...chosen.map((b) => format(splitBy, period).map((f) => [b, f] as const)))),
      }).map(({ format: f, formats }) => ({
        sites,
        ...(f ? { format: f } : {}),
        series: {
          'split-by': splitBy,
          rollover: { enabled: period !== 'none', period: period === 'monthly' ? 'monthly' : 'yearly', 'time-zone': rolloverZone },
          formats: Object.fromEntries(formats),
        },
      }));
    });

  // Mid-month in 2026 and 2027, and both sides of New Year in a few zones.
  const TIMES = [
    ...['2026-01', '2026-06', '2026-11', '2026-12', '2027-01', '2027-11', '2027-12'].map((m) => Date.parse(`${m}-15T12:00:00Z`)),
    Date.parse('2026-12-31T10:30:00Z'),
    Date.parse('2026-12-31T23:30:00Z'),
    Date.parse('2027-01-01T04:30:00Z'),
  ];
  // Small numbers, numbers just over each padding, and numbers that start like years or months.
  const NUMBERS = [
    ...Array.from({ length: 13 }, (_, i) => i),
    ...[1, 2, 3, 4, 5, 6].flatMap((k) => [10 ** k - 1, 10 ** k, 10 ** k + 1]),
    ...[1, 11, 12, 2026, 2027, 202611, 202612].flatMap((y) => [0, 1, 2, 3, 4].flatMap((k) => [y * 10 ** k, y * 10 ** k + 1])),
  ];

  it('holds, and enough configurations are accepted for it to mean something', () => {
    let accepted = 0;
    let refusedCount = 0;
    fc.assert(
      fc.property(config, (sequence) => {
        let loaded: SeqdConfig;
        try {
          loaded = load(sequence);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          refusedCount++;
          return;
        }
        accepted++;
        const p = printerOf(loaded);
        const owner = new Map<string, string>();
        for (const at of TIMES) {
          for (const key of p.keys) {
            for (const n of NUMBERS) {
              const { series, printed } = p.print(key, n, at);
              if (printed === null) continue;
              const prev = owner.get(printed);
              if (prev !== undefined && prev !== series) assert.fail(`"${printed}" printed by ${prev} and ${series} under ${JSON.stringify(sequence)}`);
              owner.set(printed, series);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
    const total = accepted + refusedCount;
    assert.ok(accepted >= total * 0.2, `only ${accepted} of ${total} configurations accepted`);
    assert.ok(refusedCount >= total * 0.2, `only ${refusedCount} of ${total} configurations refused`);
  });

  it('holds for short frames that end with digits (two sites, each its own format)', () => {
    const own = fc.record({
      prefix: fc.constantFrom('', 'A', 'A1', 'A12', '1', '12', '{yyyy}', 'A{yyyy}', '{site}', '{mm}'),
      year: fc.boolean(),
      padding: fc.integer({ min: 0, max: 3 }),
      separator: fc.constantFrom('', '1', '0', '-', '/', '.'),
    });
    let accepted = 0;
    let total = 0;
    fc.assert(
      fc.property(fc.tuple(own, own, fc.constantFrom('none', 'yearly')), ([a, b, period]) => {
        total++;
        const sequence = {
          sites: [{ id: 's', partitions: ['p'] }, { id: 's1', partitions: ['p'] }],
          series: { 'split-by': ['site'], rollover: { enabled: period === 'yearly' }, formats: { s: a, s1: b } },
        };
        let loaded: SeqdConfig;
        try {
          loaded = load(sequence);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          return;
        }
        accepted++;
        const p = printerOf(loaded);
        const owner = new Map<string, string>();
        for (const at of TIMES) {
          for (const key of p.keys) {
            for (const n of NUMBERS) {
              const { series, printed } = p.print(key, n, at);
              if (printed === null) continue;
              const prev = owner.get(printed);
              if (prev !== undefined && prev !== series) assert.fail(`"${printed}" printed by ${prev} and ${series} under ${JSON.stringify(sequence)}`);
              owner.set(printed, series);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
    assert.ok(accepted >= total * 0.1 && accepted <= total * 0.9, `${accepted} of ${total} configurations accepted`);
  });
});
