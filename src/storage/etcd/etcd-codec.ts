import type {
  ArchiveMark,
  AuditEvent,
  AuditEventType,
  InvoiceType,
  NumberRecord,
  NumberStatus,
  OpenGap,
  PreviousHold,
  SeriesCounters,
} from '../../domain/types.js';
import type { TotalsRow } from '../sequence-store.js';

/**
 * Key layout and value encoding of the etcd store. Values are compact JSON arrays: the audit trail
 * is the bulk of the data, and etcd's quota counts every byte.
 *
 *   seqd/settings                    settings object
 *   seqd/maintenance                 present while the store is in maintenance (its reason)
 *   seqd/migrated                    where the numbering moved: maintenance stays on for good
 *   seqd/identity                    the store's id, creation time and numbering profile
 *   seqd/state/<series>              series state: HWM, last event, counters, totals
 *   seqd/audit/<series>/<last seq>   one record per committed batch (its events)
 *   seqd/issue/<series>/<hwm>        batch that moved the counter to <hwm> → its last seq
 *   seqd/gaps/<series>/<chunk>       open gaps of numbers chunk*1000 … chunk*1000+999
 *   seqd/nums/<series>/<chunk>       void and refilled numbers of that chunk
 *   seqd/key/<idempotency key>       the request a key names, in whichever series it took numbers
 *   seqd/req/<series>/<key>          the same, as written before keys spanned series (read only)
 *   seqd/keyage/<committed at>/<batch>  the keys a batch recorded: the sweep deletes them by age
 */
export const CHUNK = 1000;
const enc = (s: string) => Buffer.from(s);
const pad = (n: number, width: number) => String(n).padStart(width, '0');

export const keys = {
  settings: enc('seqd/settings'),
  maintenance: enc('seqd/maintenance'),
  /** Where the numbering moved (`seqd migrate`); while present maintenance cannot be switched off. */
  migrated: enc('seqd/migrated'),
  identity: enc('seqd/identity'),
  statePrefix: enc('seqd/state/'),
  state: (series: string) => enc(`seqd/state/${series}`),
  /** The id of the batch that wrote the series' state last (written by every batch since pipelining). */
  head: (series: string) => enc(`seqd/head/${series}`),
  auditPrefix: (series: string) => enc(`seqd/audit/${series}/`),
  audit: (series: string, lastSeq: number) => enc(`seqd/audit/${series}/${pad(lastSeq, 15)}`),
  issuePrefix: (series: string) => enc(`seqd/issue/${series}/`),
  issue: (series: string, hwm: number) => enc(`seqd/issue/${series}/${pad(hwm, 16)}`),
  gapsPrefix: (series: string) => enc(`seqd/gaps/${series}/`),
  gaps: (series: string, chunk: number) => enc(`seqd/gaps/${series}/${pad(chunk, 13)}`),
  numsPrefix: (series: string) => enc(`seqd/nums/${series}/`),
  nums: (series: string, chunk: number) => enc(`seqd/nums/${series}/${pad(chunk, 13)}`),
  /** Idempotency record; the key is URI-encoded so that any string stays one path segment. */
  request: (key: string) => enc(`seqd/key/${encodeURIComponent(key)}`),
  keyAgePrefix: enc('seqd/keyage/'),
  /** Index of the keys one batch recorded, ordered by commit time (ms, 15 digits). */
  keyAge: (committedAt: number, batchId: string) => enc(`seqd/keyage/${pad(committedAt, 15)}/${batchId}`),
  /** Where a series kept its own keys before a key spanned series (still read, never written). */
  legacyRequest: (series: string, key: string) => enc(`seqd/req/${series}/${encodeURIComponent(key)}`),
};

/** The end of a prefix range: the prefix with its last byte incremented. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const b = end[i] ?? 0;
    if (b < 0xff) {
      end[i] = b + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export const chunkOf = (n: number) => Math.floor(n / CHUNK);

export interface StoredState {
  start: number;
  hwm: number;
  seq: number;
  hash: string;
  counters: SeriesCounters;
  totals: TotalsRow[];
  /** Epoch ms of the close event, or null while the series is open. */
  closedAt: number | null;
  /** Time of the series' last event (0 in states written before it was kept). */
  lastTs: number;
  /** Where the series was archived (absent: not archived). */
  archived?: ArchiveMark | undefined;
}

export function encodeState(s: StoredState): Buffer {
  return enc(
    JSON.stringify([
      1,
      s.start,
      s.hwm,
      s.seq,
      s.hash,
      [s.counters.issued, s.counters.refilled, s.counters.released, s.counters.voided],
      s.totals.map((t) => [t.siteId, t.partitionId, t.invoiceType, t.issued, t.refilled, t.released]),
      s.closedAt,
      s.lastTs,
      ...(s.archived ? [s.archived] : []),
    ]),
  );
}

export function decodeState(b: Buffer): StoredState {
  // States written before series could close have no 8th element, before the clock no 9th.
  const [, start, hwm, seq, hash, c, totals, closedAt = null, lastTs = 0, archived] = JSON.parse(b.toString()) as [
    number,
    number,
    number,
    number,
    string,
    [number, number, number, number],
    [string, string, InvoiceType, number, number, number][],
    (number | null)?,
    number?,
    ArchiveMark?,
  ];
  return {
    start,
    hwm,
    seq,
    hash,
    counters: { issued: c[0], refilled: c[1], released: c[2], voided: c[3] },
    closedAt,
    lastTs,
    ...(archived ? { archived } : {}),
    totals: totals.map(([siteId, partitionId, invoiceType, issued, refilled, released]) => ({
      siteId,
      partitionId,
      invoiceType,
      issued,
      refilled,
      released,
    })),
  };
}

/**
 * One event in a batch record: type, first, last-first, dictionary indexes, reason, request id,
 * hash, then the allocation acted on and the dictionary index of the actor, each only when it (or
 * a later one) is set: rows without them, and rows written before them, have 9 or 10 elements.
 */
type EventRow = [AuditEventType, number | null, number | null, number, number, number, string | null, string | null, string, (number | null)?, number?];

/**
 * One batch's events, compact: batch-wide fields (batch id, time, node, first seq) are stored once,
 * sites, partitions and types once per batch in a small dictionary, and each event keeps its own
 * hash (base64, 43 characters); its `prevHash` is the hash of the event before it.
 */
export function encodeAudit(events: readonly AuditEvent[]): Buffer {
  const first = events[0];
  if (!first) throw new Error('an audit record needs at least one event');
  const dict: (string | null)[] = [];
  const ref = (v: string | null) => {
    let i = dict.indexOf(v);
    if (i < 0) i = dict.push(v) - 1;
    return i;
  };
  const rows: EventRow[] = events.map((e) => {
    const row: EventRow = [
      e.type,
      e.first,
      e.first === null || e.last === null ? null : e.last - e.first,
      ref(e.siteId),
      ref(e.partitionId),
      ref(e.invoiceType),
      e.reason,
      e.requestId,
      Buffer.from(e.hash, 'hex').toString('base64url'),
    ];
    if (e.allocation !== null || e.actor !== null) row.push(e.allocation);
    if (e.actor !== null) row.push(ref(e.actor));
    return row;
  });
  return enc(JSON.stringify({ b: first.batchId, t: first.ts, n: first.node, s: first.series, q: first.seq, p: first.prevHash, d: dict, e: rows }));
}

export interface DecodedAudit {
  readonly batchId: string;
  readonly events: AuditEvent[];
}

export function decodeAudit(b: Buffer): DecodedAudit {
  const rec = JSON.parse(b.toString()) as { b: string; t: number; n: string; s: string; q: number; p: string; d: (string | null)[]; e: EventRow[] };
  let prevHash = rec.p;
  const events = rec.e.map(([type, first, span, site, partition, itype, reason, requestId, h, allocation = null, actor], i) => {
    const hash = Buffer.from(h, 'base64url').toString('hex');
    const e: AuditEvent = {
      series: rec.s,
      seq: rec.q + i,
      ts: rec.t,
      type,
      first,
      last: first === null || span === null ? null : first + span,
      siteId: rec.d[site] ?? null,
      partitionId: rec.d[partition] ?? null,
      invoiceType: (rec.d[itype] ?? null) as InvoiceType | null,
      reason,
      requestId,
      batchId: rec.b,
      node: rec.n,
      allocation,
      actor: actor === undefined ? null : (rec.d[actor] ?? null),
      prevHash,
      hash,
    };
    prevHash = hash;
    return e;
  });
  return { batchId: rec.b, events };
}

/** The 7th element, the allocation (grant), is absent in rows written before it was tracked. */
type GapRow = [number, string, string, string, InvoiceType, number, number?];

export function encodeGaps(gaps: readonly OpenGap[]): Buffer {
  return enc(JSON.stringify(gaps.map((g): GapRow => [g.number, g.reason, g.siteId, g.partitionId, g.invoiceType, g.releasedAt, g.grant])));
}

export function decodeGaps(b: Buffer): OpenGap[] {
  return (JSON.parse(b.toString()) as GapRow[]).map(([number, reason, siteId, partitionId, invoiceType, releasedAt, grant = 0]) => ({
    number,
    reason,
    siteId,
    partitionId,
    invoiceType,
    releasedAt,
    grant,
  }));
}

/** The 7th element (grant) and 8th (previous hold) are absent in rows written before them. */
type NumRow = [NumberStatus, string, string, InvoiceType, string | null, number, number?, (PreviousHold | null)?];
export type NumsChunk = Map<number, NumberRecord>;

export function encodeNums(chunk: NumsChunk): Buffer {
  const obj: Record<string, NumRow> = {};
  for (const [n, r] of chunk) {
    const row: NumRow = [r.status, r.siteId, r.partitionId, r.invoiceType, r.reason, r.changedAt, r.grant];
    if (r.previous) row.push(r.previous);
    obj[n] = row;
  }
  return enc(JSON.stringify(obj));
}

export function decodeNums(b: Buffer): NumsChunk {
  const out: NumsChunk = new Map();
  for (const [k, [status, siteId, partitionId, invoiceType, reason, changedAt, grant = 0, previous]] of Object.entries(JSON.parse(b.toString()) as Record<string, NumRow>)) {
    const number = Number(k);
    out.set(number, { number, status, siteId, partitionId, invoiceType, reason, changedAt, grant, ...(previous ? { previous } : {}) });
  }
  return out;
}
