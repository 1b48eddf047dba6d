import type { LegacyGap } from '../domain/types.js';

/** What a legacy numbering left, per series: its last issued number and its known gaps. */
export interface LegacySeries {
  readonly series: string;
  readonly last: number;
  readonly gaps: LegacyGap[];
}

/** A problem of the file, with its line: nothing is imported from a file that has one. */
export class LegacyCsvError extends Error {
  override readonly name = 'LegacyCsvError';
}

/** One CSV line's fields (RFC 4180 quotes: "a, b" and "" for a quote). */
function fields(line: string, at: number): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) throw new LegacyCsvError(`line ${at}: a quote is not closed`);
  out.push(cur);
  return out.map((f) => f.trim());
}

/**
 * Reads the legacy numbering: a header `series,number,status,reason`, then per series one row of
 * status `last` (the last number the old system issued) and one row of status `gap` per number it
 * never used (with its reason). Throws {@link LegacyCsvError} naming the line of any problem.
 */
export function parseLegacyCsv(text: string): LegacySeries[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = fields(lines[0] ?? '', 1).map((h) => h.toLowerCase());
  if (header.join(',') !== 'series,number,status,reason') throw new LegacyCsvError('line 1: the header must be series,number,status,reason');
  const bySeries = new Map<string, { last: number | null; gaps: LegacyGap[] }>();
  lines.slice(1).forEach((line, i) => {
    const at = i + 2;
    if (line.trim() === '') return;
    const [series = '', number = '', status = '', reason = ''] = fields(line, at);
    if (!/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,200}$/.test(series)) throw new LegacyCsvError(`line ${at}: "${series}" is not a series name`);
    if (!/^\d{1,15}$/.test(number)) throw new LegacyCsvError(`line ${at}: "${number}" is not a whole number`);
    const entry = bySeries.get(series) ?? { last: null, gaps: [] };
    bySeries.set(series, entry);
    if (status === 'last') {
      if (entry.last !== null) throw new LegacyCsvError(`line ${at}: series ${series} has a second "last" row`);
      entry.last = Number(number);
    } else if (status === 'gap') {
      if (reason === '') throw new LegacyCsvError(`line ${at}: a gap needs its reason`);
      if (reason.length > 180) throw new LegacyCsvError(`line ${at}: the reason is longer than 180 characters`);
      if (entry.gaps.some((g) => g.number === Number(number))) throw new LegacyCsvError(`line ${at}: gap ${number} of series ${series} is listed twice`);
      entry.gaps.push({ number: Number(number), reason });
    } else {
      throw new LegacyCsvError(`line ${at}: status "${status}" is neither last nor gap`);
    }
  });
  if (bySeries.size === 0) throw new LegacyCsvError('the file names no series');
  return [...bySeries].map(([series, e]) => {
    if (e.last === null) throw new LegacyCsvError(`series ${series} has gaps but no "last" row`);
    const last = e.last;
    const outside = e.gaps.find((g) => g.number > last);
    if (outside) throw new LegacyCsvError(`series ${series}: gap ${outside.number} is above its last number ${last}`);
    return { series, last, gaps: e.gaps };
  });
}
