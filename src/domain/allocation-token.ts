import { ValidationError } from './errors/index.js';
import type { AllocationRef } from './types.js';

/**
 * The token `next` answers for an allocation, and release/confirm take back:
 * `<series>#<first event>[-<last event>]`, the seqs of the events that gave the request its
 * numbers. It names the allocation, not the number: a release or confirm carrying it acts only
 * while that allocation still holds the number.
 */
export function formatAllocationToken(series: string, ref: AllocationRef): string {
  return ref.first === ref.last ? `${series}#${ref.first}` : `${series}#${ref.first}-${ref.last}`;
}

const TOKEN = /^(.+)#([1-9][0-9]{0,15})(?:-([1-9][0-9]{0,15}))?$/;

/** Reads a token; a malformed one (or a range running backwards) is a 400 naming `allocation`. */
export function parseAllocationToken(token: string): { series: string; ref: AllocationRef } {
  const m = TOKEN.exec(token);
  const first = Number(m?.[2]);
  const last = m?.[3] === undefined ? first : Number(m[3]);
  if (!m?.[1] || !Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first) {
    throw new ValidationError('allocation must be the token next answered, as <series>#<event>[-<event>]', { field: 'allocation' });
  }
  return { series: m[1], ref: { first, last } };
}
