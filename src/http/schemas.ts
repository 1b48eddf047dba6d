import { ACTOR_PATTERN } from '../domain/actors.js';
import { SERIES_STATUSES, type SeriesStatus } from '../domain/series-page.js';
import { AUDIT_EVENT_TYPES, INVOICE_TYPES } from '../domain/types.js';
import { ERROR_BODY } from './openapi.js';
import { verifyResponse } from './verify-schema.js';
import type { SiteConfig } from '../service/sequence-service.js';

/** Request schemas built from the configuration, so that enum errors list the configured values. */
export function buildSchemas(sites: readonly SiteConfig[], maxCount: number) {
  const siteIds = sites.map((s) => s.id);
  const partitionIds = [...new Set(sites.flatMap((s) => s.partitions))];
  const siteId = { type: 'string', enum: siteIds } as const;
  const partitionId = { type: 'string', enum: partitionIds } as const;
  const invoiceType = { type: 'string', enum: [...INVOICE_TYPES] } as const;
  const count = { type: 'integer', minimum: 1, maximum: maxCount, default: 1 } as const;
  // No control characters but tab and line breaks (NUL, BEL, escape sequences…): reasons are
  // printed in reports, exports and logs.
  const reason = { type: 'string', minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]+$' } as const;
  const sequenceNumber = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
  const requestId = { type: 'string', minLength: 1, maxLength: 200, pattern: REQUEST_ID_PATTERN } as const;
  const series = { type: 'string', minLength: 1, maxLength: 200, pattern: SERIES_PATTERN } as const;
  const seriesStatus = { type: 'string', enum: [...SERIES_STATUSES], description: 'only the series in this state' } as const;
  const allocation = {
    type: 'string',
    minLength: 3,
    maxLength: 240,
    pattern: ALLOCATION_PATTERN,
    description: 'the allocation token `next` answered (`<series>#<event>[-<event>]`): act only if that allocation still holds the number',
  } as const;
  const seq = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
  const hex64 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
  const archiveFile = { ...reason, maxLength: 500, description: 'where the archive was written (a path, or a bucket and key): the archive event names it' } as const;
  // Checked by parseTime (zone required, real calendar dates), which names the problem.
  const time = { type: 'string', format: 'date-time', minLength: 1, maxLength: 40, description: 'an RFC 3339 date-time with a zone (Z or ±hh:mm), e.g. 2026-01-31T12:00:00Z' } as const;
  const allocationRef = { type: 'object', required: ['first', 'last'], additionalProperties: false, properties: { first: seq, last: seq } } as const;

  // Who caused a forwarded op: the key name the sending instance authenticated (see forward-routes).
  const actor = { type: ['string', 'null'], pattern: ACTOR_PATTERN } as const;
  const op = (kind: string, required: string[], properties: Record<string, unknown>) =>
    ({ type: 'object', required: ['kind', ...required], additionalProperties: false, properties: { kind: { const: kind }, ...properties, actor } }) as const;

  /** 4xx and 5xx answers: the one error body. */
  const errorResponses = { '4xx': ERROR_BODY, '5xx': ERROR_BODY } as const;

  return {
    errorResponses,
    /**
     * The answer of `next`. Declared fields are serialised by the schema (faster than
     * JSON.stringify); others still pass through.
     */
    nextResponse: {
      200: {
        type: 'object',
        additionalProperties: true,
        required: ['sequenceNumber', 'numbers', 'series', 'siteId', 'partitionId', 'invoiceType', 'refilled', 'node', 'timestamp'],
        properties: {
          sequenceNumber: { type: 'integer', description: 'the first number' },
          numbers: { type: 'array', items: { type: 'integer' }, description: 'all numbers, ascending' },
          count: { type: 'integer' },
          series: { type: 'string', description: 'the series the numbers belong to, e.g. global or site-1@2026' },
          siteId: { type: 'string' },
          partitionId: { type: 'string' },
          invoiceType: { type: 'string', enum: [...INVOICE_TYPES] },
          refilled: { type: 'array', items: { type: 'integer' }, description: 'numbers that came from open gaps' },
          status: { type: 'string', enum: ['issued', 'released'], description: 'released for suppressed invoices' },
          node: { type: 'string', description: 'the instance that answered' },
          timestamp: { type: 'string', format: 'date-time', description: 'commit time (of the original request for a replay)' },
          formatted: { type: 'array', items: { type: 'string' }, description: 'the numbers as sequence.format shows them; a retried request gets the text of its first answer, also after a change of format' },
          requestId: { type: 'string', description: 'the idempotency key of the request' },
          replayed: { type: 'boolean', description: 'true when this answers a retry with the same key' },
          allocation: { type: 'string', description: 'names this allocation: pass it to release and confirm so that they act only while it holds the number' },
        },
      },
      ...errorResponses,
    },
    releaseResponse: actResponse(
      {
        status: { type: 'string', enum: ['open', 'void'], description: 'an open gap (refilled later) or void under the gap policy' },
        reason: { type: 'string', description: 'the reason of the release that ended the hold (this one, or the earlier one)' },
        alreadyReleased: { type: 'boolean', description: 'true when the named allocation had given the number back already (a repeat, or it expired): nothing was written' },
        allocation: { type: 'string', description: 'the allocation released from' },
      },
      errorResponses,
    ),
    confirmResponse: actResponse(
      {
        status: { type: 'string', enum: ['confirmed'] },
        alreadyConfirmed: { type: 'boolean', description: 'true when it was confirmed before: nothing was written' },
        allocation: { type: 'string', description: 'the allocation confirmed' },
      },
      errorResponses,
    ),
    /** A page of the audit trail (see `AuditPage`). */
    auditResponse: {
      200: {
        type: 'object',
        additionalProperties: true,
        required: ['series', 'events', 'count', 'order', 'limit', 'nextCursor'],
        properties: {
          series: { type: 'string' },
          events: { type: 'array', items: AUDIT_EVENT },
          count: { type: 'integer' },
          order: { type: 'string', enum: ['desc', 'asc'] },
          limit: { type: 'integer' },
          nextCursor: { type: ['integer', 'null'], description: 'pass as cursor for the next page; null on the last one' },
        },
      },
      ...errorResponses,
    },
    /** Ops another instance forwards to the one committing the series (see CommitForwarder). */
    forwardBody: {
      type: 'object',
      required: ['series', 'ops'],
      additionalProperties: false,
      properties: {
        series,
        ops: {
          type: 'array',
          minItems: 1,
          maxItems: 5000,
          items: {
            oneOf: [
              op('allocate', ['siteId', 'partitionId', 'invoiceType', 'count'], {
                siteId,
                partitionId,
                invoiceType,
                count: { type: 'integer', minimum: 1, maximum: maxCount },
                requestId,
                replayOnly: { type: 'boolean' },
              }),
              op('release', ['sequenceNumber', 'siteId', 'partitionId', 'reason'], {
                sequenceNumber,
                siteId,
                partitionId,
                reason,
                allocation: allocationRef,
                ifUnchangedSince: { type: 'integer', minimum: 0 },
                heldAtLeastMs: { type: 'integer', minimum: 0 },
              }),
              op('confirm', ['sequenceNumber', 'siteId', 'partitionId'], { sequenceNumber, siteId, partitionId, allocation: allocationRef }),
              op('setting', ['key', 'value', 'reason'], { key: { type: 'string', enum: ['simulatedEnabled'] }, value: { type: 'boolean' }, reason }),
              op('close', ['reason'], { reason }),
              op('maintenance', ['enabled', 'reason'], { enabled: { type: 'boolean' }, reason }),
              op('archive', ['file', 'sha256', 'headSeq', 'headHash', 'reason'], { file: archiveFile, sha256: hex64, headSeq: { type: 'integer', minimum: 0 }, headHash: hex64, reason }),
            ],
          },
        },
      },
    },
    nextQuery: {
      type: 'object',
      additionalProperties: false,
      required: ['siteId', 'partitionId', 'invoiceType'],
      properties: { siteId, partitionId, invoiceType, count, requestId },
    },
    nextBody: {
      type: 'object',
      required: ['siteId', 'partitionId', 'invoiceType'],
      additionalProperties: false,
      properties: { siteId, partitionId, invoiceType, count, requestId },
    },
    releaseBody: {
      type: 'object',
      required: ['sequenceNumber', 'siteId', 'partitionId', 'reason'],
      additionalProperties: false,
      properties: { sequenceNumber, siteId, partitionId, reason, series, invoiceType, allocation },
    },
    confirmBody: {
      type: 'object',
      required: ['sequenceNumber', 'siteId', 'partitionId'],
      additionalProperties: false,
      properties: { sequenceNumber, siteId, partitionId, series, invoiceType, allocation },
    },
    archiveBody: {
      type: 'object',
      required: ['series'],
      additionalProperties: false,
      properties: { series },
    },
    archiveRemoveBody: {
      type: 'object',
      required: ['series', 'file', 'sha256', 'head', 'reason'],
      additionalProperties: false,
      properties: {
        series,
        file: archiveFile,
        sha256: { ...hex64, description: 'the archive\'s manifest checksum, as `seqd archive verify` printed it' },
        head: { type: 'string', minLength: 66, maxLength: 90, description: 'the archive\'s chain head, `<seq>:<hash>`: the series must still end there' },
        reason,
      },
    },
    maintenanceBody: {
      type: 'object',
      required: ['enabled', 'reason'],
      additionalProperties: false,
      properties: { enabled: { type: 'boolean' }, reason },
    },
    settingsBody: {
      type: 'object',
      required: ['simulatedEnabled'],
      additionalProperties: false,
      properties: { simulatedEnabled: { type: 'boolean' }, reason },
    },
    gapsQuery: {
      type: 'object',
      additionalProperties: false,
      properties: {
        status: gapStatus('gaps'),
        limit: { type: 'integer', minimum: 1, maximum: 1000000 },
        cursor: { type: 'integer', minimum: 0, description: 'numbers above this one: the nextCursor of the previous page' },
        series,
      },
    },
    seriesListQuery: {
      type: 'object',
      additionalProperties: false,
      properties: {
        status: seriesStatus,
        limit: { type: 'integer', minimum: 1, maximum: 100000 },
        cursor: { ...series, description: 'series named after this one: the nextCursor of the previous page' },
      },
    },
    statsQuery: {
      type: 'object',
      additionalProperties: false,
      properties: { status: seriesStatus },
    },
    seriesParams: {
      type: 'object',
      required: ['name'],
      properties: { name: series },
    },
    verifyQuery: {
      type: 'object',
      additionalProperties: false,
      properties: {
        series,
        period: { type: 'string', pattern: '^[0-9]{4}(-[0-9]{2})?$' },
        head: {
          type: 'string',
          minLength: 1,
          maxLength: 100,
          description: 'a head saved from an earlier verify, <seq>:<hash> (head.seq, head.hash); needs series: that event must still be in the trail with that hash',
        },
      },
    },
    verifyResponse: verifyResponse(errorResponses),
    auditQuery: {
      type: 'object',
      additionalProperties: false,
      properties: {
        number: sequenceNumber,
        siteId,
        partitionId,
        invoiceType,
        event: { type: 'string', enum: [...AUDIT_EVENT_TYPES] },
        from: { ...time, description: `events at or after this time: ${time.description}` },
        to: { ...time, description: `events at or before this time: ${time.description}` },
        cursor: { type: 'integer', minimum: 0 },
        order: { type: 'string', enum: ['desc', 'asc'], default: 'desc' },
        limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        series,
      },
    },
  } as const;
}

const nullable = (type: 'string' | 'integer', description?: string) => ({ type: [type, 'null'], ...(description ? { description } : {}) }) as const;

/** One audit event as the audit route shows it (see `AuditEntry`). */
const AUDIT_EVENT = {
  type: 'object',
  additionalProperties: true,
  required: ['series', 'seq', 'event', 'timestamp', 'first', 'last', 'siteId', 'partitionId', 'invoiceType', 'reason', 'requestId', 'batchId', 'node', 'allocation', 'actor', 'prevHash', 'hash'],
  properties: {
    series: { type: 'string' },
    seq: { type: 'integer', description: 'position in the series\' trail, from 1' },
    event: { type: 'string', enum: [...AUDIT_EVENT_TYPES] },
    timestamp: { type: 'string', format: 'date-time' },
    first: nullable('integer', 'first number of the range the event is about'),
    last: nullable('integer'),
    siteId: nullable('string'),
    partitionId: nullable('string'),
    invoiceType: { type: ['string', 'null'], enum: [...INVOICE_TYPES, null] },
    reason: nullable('string'),
    requestId: nullable('string', 'the idempotency key of the request'),
    batchId: { type: 'string' },
    node: { type: 'string', description: 'the instance that committed it' },
    allocation: nullable('integer', 'for release, confirm and void: the seq of the event that gave the number(s) to the holder acted for'),
    actor: nullable(
      'string',
      'who caused the event: the name of the API key of the request (never the key), system:expiry, system:rollover, system:undelivered, system:config or cli:change-numbering; null with API keys off and in events written before actors were recorded. Part of the hash.',
    ),
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;

/**
 * The answer of a release or confirm: the number, its series and holder, plus what the act says
 * (`own`, whose keys other than `allocation` are all required).
 */
function actResponse<E extends object>(own: Record<string, object>, errorResponses: E) {
  const required = ['sequenceNumber', 'series', 'siteId', 'partitionId', 'invoiceType', 'node', 'timestamp', ...Object.keys(own).filter((k) => k !== 'allocation')];
  return {
    200: {
      type: 'object',
      additionalProperties: true,
      required,
      properties: {
        sequenceNumber: { type: 'integer' },
        series: { type: 'string' },
        siteId: { type: 'string' },
        partitionId: { type: 'string' },
        invoiceType: { type: 'string', enum: [...INVOICE_TYPES] },
        node: { type: 'string' },
        timestamp: { type: 'string', format: 'date-time' },
        ...own,
      },
    },
    ...errorResponses,
  } as const;
}

export interface NextInput {
  siteId: string;
  partitionId: string;
  invoiceType: (typeof INVOICE_TYPES)[number];
  count: number;
  requestId?: string;
}

/** A series name as seqd makes them: `global`, `site-1:partition-a`, `global@2026`. */
export const SERIES_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9._:@-]*$';

/** An allocation token as `next` answers it: the series, `#`, one event seq or a range of them. */
export const ALLOCATION_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9._:@-]*#[1-9][0-9]{0,15}(-[1-9][0-9]{0,15})?$';

/** An idempotency key: 1 to 200 visible ASCII characters (as in an HTTP header). */
export const REQUEST_ID_PATTERN = '^[\\x21-\\x7e]+$';
export interface ReleaseInput {
  sequenceNumber: number;
  siteId: string;
  partitionId: string;
  reason: string;
  series?: string;
  invoiceType?: (typeof INVOICE_TYPES)[number];
  allocation?: string;
}
export interface ConfirmInput {
  sequenceNumber: number;
  siteId: string;
  partitionId: string;
  series?: string;
  invoiceType?: (typeof INVOICE_TYPES)[number];
  allocation?: string;
}
export interface SeriesInput {
  series?: string;
}
export interface VerifyInput extends SeriesInput {
  period?: string;
  head?: string;
}
export interface ArchiveInput {
  series: string;
}
export interface ArchiveRemoveInput {
  series: string;
  file: string;
  sha256: string;
  head: string;
  reason: string;
}
export interface MaintenanceInput {
  enabled: boolean;
  reason: string;
}
export interface SettingsInput {
  simulatedEnabled: boolean;
  reason?: string;
}
/**
 * What a gap report (route or export) shows, the same on both: one status, `gaps` (open and
 * void: numbers no invoice holds) or `all` (those and the refilled ones).
 */
export const GAP_STATUSES = ['open', 'void', 'refilled', 'gaps', 'all'] as const;
export type GapStatus = (typeof GAP_STATUSES)[number];

/** The number statuses a {@link GapStatus} selects. */
export function statusesOf(status: GapStatus): ('open' | 'void' | 'refilled')[] {
  if (status === 'all') return ['open', 'void', 'refilled'];
  if (status === 'gaps') return ['open', 'void'];
  return [status];
}

/** The `status` parameter of a gap report, with its default (the route's and the export's differ). */
export function gapStatus(byDefault: GapStatus) {
  return {
    type: 'string',
    enum: [...GAP_STATUSES],
    default: byDefault,
    description: 'open, void or refilled numbers; gaps: open and void; all: open, void and refilled',
  } as const;
}

export interface SeriesListInput {
  status?: SeriesStatus;
  limit?: number;
  cursor?: string;
}
export interface StatsInput {
  status?: SeriesStatus;
}
export interface GapsInput {
  status: GapStatus;
  limit?: number;
  cursor?: number;
  series?: string;
}
export interface AuditInput {
  number?: number;
  siteId?: string;
  partitionId?: string;
  invoiceType?: (typeof INVOICE_TYPES)[number];
  event?: (typeof AUDIT_EVENT_TYPES)[number];
  from?: string;
  to?: string;
  cursor?: number;
  order: 'asc' | 'desc';
  limit: number;
  series?: string;
}
