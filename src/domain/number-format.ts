/** How numbers are shown beside their integer value, e.g. `INV-2026-000123`. */
export interface NumberFormat {
  /** Text before the number, e.g. `INV` (empty: none). */
  readonly prefix: string;
  /** Put the year of the commit (in `timeZone`) between prefix and number. */
  readonly year: boolean;
  /** Zero-pad the number to this many digits (0: no padding). */
  readonly padding: number;
  readonly separator: string;
  /** IANA time zone of the year, e.g. `Europe/Berlin`. */
  readonly timeZone: string;
}

/** Whether `tz` is a time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * A formatter for one format; the year is `year` when given (the period of a rolling series),
 * else that of `at` (epoch ms) in the format's time zone.
 */
export function numberFormatter(f: NumberFormat): (n: number, at: number, year?: string) => string {
  const years = new Intl.DateTimeFormat('en', { timeZone: f.timeZone, year: 'numeric' });
  return (n, at, year) => {
    const parts: string[] = [];
    if (f.prefix) parts.push(f.prefix);
    if (f.year) parts.push(year ?? years.format(at));
    parts.push(String(n).padStart(f.padding, '0'));
    return parts.join(f.separator);
  };
}
