/** Formats of the auditor exports. */
export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * One CSV field: quoted when it holds a comma, quote or line break (RFC 4180). Text that a
 * spreadsheet would run as a formula (starting with =, +, -, @, tab or CR: OWASP's CSV injection
 * rule) gets a leading apostrophe; numbers stay numbers. NDJSON keeps every value as it is.
 */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Turns row objects into lines of the chosen format (CSV gets a header line first). */
export async function* formatRows<T extends Record<string, unknown>>(
  rows: AsyncIterable<T>,
  format: ExportFormat,
  columns: readonly (keyof T & string)[],
): AsyncGenerator<string> {
  if (format === 'csv') yield `${columns.join(',')}\r\n`;
  for await (const row of rows) {
    yield format === 'csv' ? `${columns.map((c) => csvField(row[c])).join(',')}\r\n` : `${JSON.stringify(row)}\n`;
  }
}
