import { toRuns } from '../domain/sorted-gaps.js';
import type { RequestRecord } from '../domain/types.js';

/** Stored form of a request record: numbers as [first, last] runs, so a big count stays small. */
interface StoredRequest {
  f: string;
  n: [number, number][];
  r: [number, number][];
  s: boolean;
  t: number;
  /** The allocation's first and last grant seq (absent in records written before it was tracked). */
  a?: [number, number];
  /** The series (absent in records written when each series kept its own keys). */
  q?: string;
}

export function encodeRequest(r: RequestRecord): string {
  const stored: StoredRequest = { f: r.fingerprint, n: toRuns(r.numbers), r: toRuns(r.refilled), s: r.released, t: r.committedAt };
  if (r.allocation) stored.a = [r.allocation.first, r.allocation.last];
  stored.q = r.series;
  return JSON.stringify(stored);
}

/** `series`: where the record was found, for records that do not name theirs. */
export function decodeRequest(key: string, text: string, series: string): RequestRecord {
  const s = JSON.parse(text) as StoredRequest;
  const expand = (runs: [number, number][]) => runs.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
  const allocation = s.a ? { first: s.a[0], last: s.a[1] } : null;
  return { key, series: s.q ?? series, fingerprint: s.f, numbers: expand(s.n), refilled: expand(s.r), released: s.s, committedAt: s.t, allocation };
}
