import type { VerifyReport } from '../domain/verify-report.js';
import type { AuditEventType, InvoiceType } from '../domain/types.js';

/** What the service takes and answers: the shapes of the HTTP API's requests and replies. */

export interface NextRequest {
  readonly siteId: string;
  readonly partitionId: string;
  readonly invoiceType: InvoiceType;
  readonly count: number;
  readonly requestId?: string | undefined;
}

export interface NextResponse {
  sequenceNumber: number;
  numbers: number[];
  count: number;
  series: string;
  siteId: string;
  partitionId: string;
  invoiceType: InvoiceType;
  refilled: number[];
  status: 'issued' | 'released';
  node: string;
  timestamp: string;
  /**
   * The numbers as formatted by `sequence.format`, when one is configured; a retried request gets
   * the text of its first answer, even after `seqd change-numbering` changed the format.
   */
  formatted?: string[];
  /** The request's idempotency key, when it had one. */
  requestId?: string;
  /** True when this answers a retry: the numbers are those of the first request with this key. */
  replayed?: boolean;
  /**
   * Names this allocation (`<series>#<event>[-<event>]`): release and confirm that carry it act
   * only while this allocation holds the number, so a late or repeated one can never touch a
   * number handed to someone else since. Absent only on replays of requests made before v0.2.
   */
  allocation?: string;
}

/**
 * Names the number a release or confirm acts on: by its `series` (as `next` returned it), or
 * else by the series the holder's requests number from now (with `invoiceType` when series are
 * split by type). A number of a closed period needs its series.
 */
export interface HeldNumberRequest {
  readonly sequenceNumber: number;
  readonly siteId: string;
  readonly partitionId: string;
  readonly series?: string | undefined;
  readonly invoiceType?: InvoiceType | undefined;
  /** The allocation token `next` answered: act only if that allocation still holds the number. */
  readonly allocation?: string | undefined;
}

export interface ReleaseRequest extends HeldNumberRequest {
  readonly reason: string;
}

export type ConfirmRequest = HeldNumberRequest;

/** The answer of verify over several series: the focus report's fields plus every report. */
export interface MultiVerifyReport extends VerifyReport {
  readonly durationMs: number;
  readonly reports: readonly (VerifyReport & { durationMs: number })[];
}

export interface ConfirmResponse {
  sequenceNumber: number;
  series: string;
  status: 'confirmed';
  alreadyConfirmed: boolean;
  /** The allocation confirmed (`<series>#<event>`; absent for numbers issued before v0.2). */
  allocation?: string;
  siteId: string;
  partitionId: string;
  invoiceType: InvoiceType;
  node: string;
  timestamp: string;
}

export interface ReleaseResponse {
  sequenceNumber: number;
  series: string;
  status: 'open' | 'void';
  reason: string;
  /**
   * True when the named allocation had given the number back already (a repeated release, or it
   * expired): nothing was written, `reason` is that of the earlier release.
   */
  alreadyReleased: boolean;
  /** The allocation released from (`<series>#<event>`; absent for numbers issued before v0.2). */
  allocation?: string;
  siteId: string;
  partitionId: string;
  invoiceType: InvoiceType;
  node: string;
  timestamp: string;
}

/** One audit event as `GET /api/v1/audit` shows it (the stored event, its time as ISO 8601). */
export interface AuditEntry {
  series: string;
  seq: number;
  event: AuditEventType;
  timestamp: string;
  first: number | null;
  last: number | null;
  siteId: string | null;
  partitionId: string | null;
  invoiceType: InvoiceType | null;
  reason: string | null;
  requestId: string | null;
  batchId: string;
  node: string;
  /** The allocation a release, confirm or void acted on (seq of the event that gave the number). */
  allocation: number | null;
  /**
   * Who caused the event: the name of the API key of the request (never the key), `system:…` for
   * seqd itself (expiry, rollover, undelivered numbers, configuration), `cli:change-numbering`;
   * null with API keys off and in events written before actors were recorded.
   */
  actor: string | null;
  prevHash: string;
  hash: string;
}

/** A page of the audit trail: follow `nextCursor` (null on the last page). */
export interface AuditPage {
  series: string;
  events: AuditEntry[];
  count: number;
  order: 'asc' | 'desc';
  limit: number;
  nextCursor: number | null;
}
