import type { AuditEvent, AuditEventType, InvoiceType, NumberRecord, NumberStatus, PreviousHold, RequestRecord, Settings } from '../domain/types.js';
import type { StoreIdentity, TotalsRow } from '../storage/sequence-store.js';
import type { SeriesImage } from '../storage/store-transfer.js';

/**
 * The backup file: gzip'd NDJSON, one object per line, tagged by `t`. A header first, then the
 * store's identity and settings, each series' state and number records, the idempotency records,
 * then each series' events in seq order (series in the same order), and a manifest last: counts,
 * every series' chain head and the SHA-256 of all the lines before it (uncompressed, each with its
 * newline). A file without a manifest, or whose checksum differs, is incomplete or damaged.
 *
 * Events are rows in a fixed field order, without `series` (the line names it) and without
 * `prevHash` (the hash of the event before it): a restore recomputes every hash from the rows,
 * so an edited row cannot pass.
 */
export const BACKUP_FORMAT = 'seqd-backup';
/**
 * An archive of one closed series (`seqd archive`): the same lines for that series alone (its
 * state, number records and every event up to its head), without settings or idempotency
 * records; the header names the series. It is checked as a backup is (`seqd archive verify`).
 */
export const ARCHIVE_FORMAT = 'seqd-archive';
export const BACKUP_VERSION = 1;

export interface BackupHeader {
  readonly t: 'header';
  readonly format: typeof BACKUP_FORMAT | typeof ARCHIVE_FORMAT;
  /** An archive's series (absent in a backup). */
  readonly series?: string | undefined;
  readonly version: number;
  /** Epoch ms when the snapshot was taken. */
  readonly createdAt: number;
  readonly store: { readonly kind: string; readonly position: string };
  /** Idempotency records older than this (ms before `createdAt`) were left out. */
  readonly requestWindowMs: number;
}

export type EventRow = [
  seq: number,
  ts: number,
  type: AuditEventType,
  first: number | null,
  last: number | null,
  siteId: string | null,
  partitionId: string | null,
  invoiceType: InvoiceType | null,
  reason: string | null,
  requestId: string | null,
  batchId: string,
  node: string,
  allocation: number | null,
  actor: string | null,
  hash: string,
];

export type NumberRow = [
  number: number,
  status: NumberStatus,
  siteId: string,
  partitionId: string,
  invoiceType: InvoiceType,
  reason: string | null,
  changedAt: number,
  grant: number,
  previous: PreviousHold | null,
];

export interface ChainHead {
  readonly series: string;
  readonly seq: number;
  readonly hash: string;
  readonly hwm: number;
}

export interface BackupCounts {
  series: number;
  events: number;
  numbers: number;
  requests: number;
}

export interface BackupManifest {
  readonly t: 'manifest';
  readonly counts: BackupCounts;
  readonly heads: readonly ChainHead[];
  /** SHA-256 (hex) of every line before this one, as written (UTF-8, each ending in "\n"). */
  readonly sha256: string;
}

export type BackupLine =
  | BackupHeader
  | { readonly t: 'identity'; readonly identity: StoreIdentity }
  | { readonly t: 'settings'; readonly settings: Partial<Settings> }
  | { readonly t: 'series'; readonly name: string; readonly state: SeriesImage['state']; readonly totals: readonly TotalsRow[] }
  | { readonly t: 'numbers'; readonly series: string; readonly records: readonly NumberRow[] }
  | { readonly t: 'events'; readonly series: string; readonly events: readonly EventRow[] }
  | { readonly t: 'requests'; readonly records: readonly RequestRecord[] }
  | BackupManifest;

export function eventRow(e: AuditEvent): EventRow {
  return [e.seq, e.ts, e.type, e.first, e.last, e.siteId, e.partitionId, e.invoiceType, e.reason, e.requestId, e.batchId, e.node, e.allocation, e.actor, e.hash];
}

/** The event of a row; `prevHash`: the hash of the event before it (the genesis hash for the first). */
export function eventOf(series: string, r: EventRow, prevHash: string): AuditEvent {
  const [seq, ts, type, first, last, siteId, partitionId, invoiceType, reason, requestId, batchId, node, allocation, actor, hash] = r;
  return { series, seq, ts, type, first, last, siteId, partitionId, invoiceType, reason, requestId, batchId, node, allocation, actor, prevHash, hash };
}

export function numberRow(n: NumberRecord): NumberRow {
  return [n.number, n.status, n.siteId, n.partitionId, n.invoiceType, n.reason, n.changedAt, n.grant, n.previous ?? null];
}

export function numberOf(r: NumberRow): NumberRecord {
  const [number, status, siteId, partitionId, invoiceType, reason, changedAt, grant, previous] = r;
  return { number, status, siteId, partitionId, invoiceType, reason, changedAt, grant, ...(previous ? { previous } : {}) };
}
