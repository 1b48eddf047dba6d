import type { ArchiveMark, AuditEvent, AuditEventType, InvoiceType, NumberRecord, NumberStatus, PreviousHold, SeriesState } from '../domain/types.js';

/*
 * Rows of the SQL stores (SQLite and PostgreSQL share one layout) and how they map to the domain.
 * Integer columns arrive as numbers from both drivers (PostgreSQL's bigint is parsed as a number).
 */

export interface SeriesRow {
  name: string;
  start: number;
  hwm: number;
  version: number;
  event_seq: number;
  last_hash: string;
  issued: number;
  refilled: number;
  released: number;
  voided: number;
  closed_at: number | null;
  last_ts: number;
  /** The series' `ArchiveMark` as JSON (null: not archived). */
  archive: string | null;
}
export interface EventRow {
  series: string;
  seq: number;
  ts: number;
  type: string;
  first: number | null;
  last: number | null;
  site_id: string | null;
  partition_id: string | null;
  invoice_type: string | null;
  reason: string | null;
  request_id: string | null;
  batch_id: string;
  node: string;
  prev_hash: string;
  hash: string;
  allocation: number | null;
  actor: string | null;
}
export interface NumberRow {
  number: number;
  status: string;
  site_id: string;
  partition_id: string;
  invoice_type: string;
  reason: string | null;
  changed_at: number;
  grant_seq: number;
  previous: string | null;
}

/** The archive mark of a series row (null: not archived, or no such series). */
export function archiveMarkOf(row: Pick<SeriesRow, 'archive'> | undefined): ArchiveMark | null {
  return row?.archive ? (JSON.parse(row.archive) as ArchiveMark) : null;
}

/** A series row and its open gaps (`numbers` rows of status open, by number) as a state. */
export function toState(row: SeriesRow, openGaps: readonly NumberRow[]): SeriesState {
  return {
    series: row.name,
    start: row.start,
    hwm: row.hwm,
    version: String(row.version),
    eventSeq: row.event_seq,
    lastHash: row.last_hash,
    openGaps: openGaps.map((g) => ({
      number: g.number,
      reason: g.reason ?? '',
      siteId: g.site_id,
      partitionId: g.partition_id,
      invoiceType: g.invoice_type as InvoiceType,
      releasedAt: g.changed_at,
      grant: g.grant_seq,
    })),
    counters: { issued: row.issued, refilled: row.refilled, released: row.released, voided: row.voided },
    closedAt: row.closed_at,
    lastEventAt: row.last_ts,
    ...(row.archive ? { archived: archiveMarkOf(row) } : {}),
  };
}

export function toEvent(r: EventRow): AuditEvent {
  return {
    series: r.series,
    seq: r.seq,
    ts: r.ts,
    type: r.type as AuditEventType,
    first: r.first,
    last: r.last,
    siteId: r.site_id,
    partitionId: r.partition_id,
    invoiceType: r.invoice_type as InvoiceType | null,
    reason: r.reason,
    requestId: r.request_id,
    batchId: r.batch_id,
    node: r.node,
    allocation: r.allocation,
    actor: r.actor,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export function toRecord(r: NumberRow): NumberRecord {
  return {
    number: r.number,
    status: r.status as NumberStatus,
    siteId: r.site_id,
    partitionId: r.partition_id,
    invoiceType: r.invoice_type as InvoiceType,
    reason: r.reason,
    changedAt: r.changed_at,
    grant: r.grant_seq,
    ...(r.previous ? { previous: JSON.parse(r.previous) as PreviousHold } : {}),
  };
}


/** A counter number held by the issue event `range` (its holder and allocation). */
export function issuedRecord(number: number, range: EventRow): NumberRecord {
  return {
    number,
    status: 'issued',
    siteId: range.site_id ?? '',
    partitionId: range.partition_id ?? '',
    invoiceType: range.invoice_type as InvoiceType,
    reason: null,
    changedAt: range.ts,
    grant: range.seq,
  };
}
