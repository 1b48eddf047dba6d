import type { AuditEvent, NumberRecord, OpenGap, Settings } from '../../domain/types.js';
import type { NumberQuery } from '../sequence-store.js';
import { CHUNK, chunkOf, decodeAudit, decodeGaps, decodeNums, keys, prefixEnd } from './etcd-codec.js';
import type { Kv, RangeReq, RangeRes } from './etcd-client.js';

/*
 * Reads shared by the store (the latest revision) and its snapshots (one fixed revision): each
 * takes the range call to use.
 */

export type RangeCall = (req: RangeReq) => Promise<RangeRes>;

/**
 * Audit records read per range call. A record holds one batch (up to 1.4 MB at the extreme, a few
 * KB to tens of KB in practice), and a gRPC reply is capped, so pages stay small.
 */
export const SCAN_PAGE = 16;

/** Events of the batches from the one holding seq `from` on, one page of batches, ascending. */
export async function readBatches(range: RangeCall, series: string, from: number): Promise<AuditEvent[]> {
  const prefix = keys.auditPrefix(series);
  const res = await range({ key: keys.audit(series, from), range_end: prefixEnd(prefix), limit: SCAN_PAGE });
  return res.kvs.flatMap((kv) => decodeAudit(kv.value).events);
}

/** First number after the chunk a gaps/nums key names (its last path segment is the chunk index). */
function chunkKeyEnd(key: Buffer): number {
  const text = key.toString();
  return (Number(text.slice(text.lastIndexOf('/') + 1)) + 1) * CHUNK;
}

export function gapRecord(g: OpenGap): NumberRecord {
  return { number: g.number, status: 'open', siteId: g.siteId, partitionId: g.partitionId, invoiceType: g.invoiceType, reason: g.reason, changedAt: g.releasedAt, grant: g.grant };
}

/** One page of number records of the wanted statuses above `q.afterNumber`, ascending. */
export async function readNumberPage(range: RangeCall, q: NumberQuery): Promise<NumberRecord[]> {
  const after = q.afterNumber ?? -1;
  const first = Math.max(0, chunkOf(after + 1));
  const wantOpen = q.statuses.includes('open');
  const wantOther = q.statuses.some((st) => st !== 'open');
  const out: NumberRecord[] = [];
  // Chunk by chunk from the first one that can hold a number above `after`, both kinds side by
  // side, until a chunk completes the page: a page never reads the whole series.
  let gapsFrom = keys.gaps(q.series, first);
  let numsFrom = keys.nums(q.series, first);
  for (;;) {
    const [gaps, nums] = await Promise.all([
      wantOpen ? range({ key: gapsFrom, range_end: prefixEnd(keys.gapsPrefix(q.series)), limit: SCAN_PAGE }) : null,
      wantOther ? range({ key: numsFrom, range_end: prefixEnd(keys.numsPrefix(q.series)), limit: SCAN_PAGE }) : null,
    ]);
    const found: NumberRecord[] = [];
    for (const kv of gaps?.kvs ?? []) for (const g of decodeGaps(kv.value)) found.push(gapRecord(g));
    for (const kv of nums?.kvs ?? []) for (const r of decodeNums(kv.value).values()) if (q.statuses.includes(r.status as 'void')) found.push(r);
    // Only what lies below both ranges' ends is complete in this round.
    const lastGaps = gaps?.more ? gaps.kvs[gaps.kvs.length - 1]?.key : undefined;
    const lastNums = nums?.more ? nums.kvs[nums.kvs.length - 1]?.key : undefined;
    const bound = Math.min(lastGaps ? chunkKeyEnd(lastGaps) : Infinity, lastNums ? chunkKeyEnd(lastNums) : Infinity);
    for (const r of found) if (r.number > after && r.number < bound) out.push(r);
    if (out.length >= q.limit || bound === Infinity) break;
    const next = Math.floor(bound / CHUNK);
    gapsFrom = keys.gaps(q.series, next);
    numsFrom = keys.nums(q.series, next);
  }
  return out.sort((a, b) => a.number - b.number).slice(0, q.limit);
}

export function decodeSettingsValue(kv: Kv | undefined): Partial<Settings> {
  if (!kv) return {};
  const raw = JSON.parse(kv.value.toString()) as Partial<Settings>;
  return typeof raw.simulatedEnabled === 'boolean' ? { simulatedEnabled: raw.simulatedEnabled } : {};
}
