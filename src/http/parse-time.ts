import { ValidationError } from '../domain/errors/index.js';

/**
 * RFC 3339 `date-time` (section 5.6): date, `T`, time, optional fraction, and a zone that is `Z`
 * or `±hh:mm`. `T` and `Z` may be lower case (section 5.6, note). A zone is required: a zone-less
 * time would be read in whatever zone the server runs in.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Shown in every refusal, so that the caller sees a valid value. */
const EXAMPLE = 'such as 2026-01-31T12:00:00Z or 2026-01-31T13:00:00+01:00';

/**
 * An RFC 3339 date-time with a zone as epoch ms; anything else (no zone, a plain date, an
 * impossible date such as 2026-02-30, an hour 24) is a 400 naming the field. `Date.parse` alone
 * would take all of those, moving 30 February to 2 March. A leap second (`:60`) is refused: the
 * trail's times never hold one.
 */
export function parseTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const m = RFC3339.exec(value);
  const refuse = (why: string) => new ValidationError(`${field} must be an RFC 3339 date-time with a zone, ${EXAMPLE}: ${why}`, { field });
  if (!m) throw refuse(`"${value}" is not one`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) throw refuse(`${value.slice(0, 10)} is not a calendar date`);
  if (hour > 23 || minute > 59 || second > 59) throw refuse(`${value.slice(11, 19)} is not a time of day`);
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) throw refuse(`${m[9] ?? ''}${m[10] ?? ''}:${m[11] ?? ''} is not a zone offset`);
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  // Not Date.UTC: it maps years 0 to 99 onto 1900 to 1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime() - offsetMin * 60_000;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
