import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTimeZone, numberFormatter } from '../../src/domain/number-format.js';
import { loadConfig } from '../../src/config/config-loader.js';

describe('number formats', () => {
  it('writes prefix, year of the commit in the time zone, and the padded number', () => {
    const f = numberFormatter({ prefix: 'INV', year: true, padding: 6, separator: '-', timeZone: 'Europe/Berlin' });
    assert.equal(f(123, Date.parse('2026-06-01T12:00:00Z')), 'INV-2026-000123');
    // 23:30 UTC on 31 December is already the new year in Berlin.
    assert.equal(f(124, Date.parse('2026-12-31T23:30:00Z')), 'INV-2027-000124');
    assert.equal(numberFormatter({ prefix: '', year: false, padding: 3, separator: '/', timeZone: 'UTC' })(7, 0), '007');
    assert.equal(numberFormatter({ prefix: 'A', year: false, padding: 0, separator: '/', timeZone: 'UTC' })(12345, 0), 'A/12345');
  });

  it('knows time zones, and a configuration with an unknown one names the key', () => {
    assert.equal(isTimeZone('Europe/Berlin'), true);
    assert.equal(isTimeZone('Mars/Olympus'), false);
    assert.throws(
      () => loadConfig({ profile: 'poc', env: {}, overrides: { sequence: { format: { 'time-zone': 'Mars/Olympus' } } } }),
      /sequence\.format\.time-zone/,
    );
  });
});
