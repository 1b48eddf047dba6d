import { INVOICE_TYPES } from '../domain/types.js';
import type { SiteConfig } from '../service/sequence-service.js';

/** Request schemas built from the configuration, so that enum errors list the configured values. */
export function buildSchemas(sites: readonly SiteConfig[], maxCount: number) {
  const siteIds = sites.map((s) => s.id);
  const partitionIds = [...new Set(sites.flatMap((s) => s.partitions))];
  const siteId = { type: 'string', enum: siteIds } as const;
  const partitionId = { type: 'string', enum: partitionIds } as const;
  const invoiceType = { type: 'string', enum: [...INVOICE_TYPES] } as const;
  const count = { type: 'integer', minimum: 1, maximum: maxCount, default: 1 } as const;
  const reason = { type: 'string', minLength: 1, maxLength: 200 } as const;
  const sequenceNumber = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

  return {
    nextQuery: {
      type: 'object',
      required: ['siteId', 'partitionId', 'invoiceType'],
      properties: { siteId, partitionId, invoiceType, count },
    },
    nextBody: {
      type: 'object',
      required: ['siteId', 'partitionId', 'invoiceType'],
      additionalProperties: false,
      properties: { siteId, partitionId, invoiceType, count },
    },
    releaseBody: {
      type: 'object',
      required: ['sequenceNumber', 'siteId', 'partitionId', 'reason'],
      additionalProperties: false,
      properties: { sequenceNumber, siteId, partitionId, reason },
    },
    settingsBody: {
      type: 'object',
      required: ['simulatedEnabled'],
      additionalProperties: false,
      properties: { simulatedEnabled: { type: 'boolean' }, reason },
    },
    gapsQuery: {
      type: 'object',
      properties: {
        status: { type: 'string', enum: ['open', 'void', 'refilled', 'all'], default: 'all' },
        limit: { type: 'integer', minimum: 1, maximum: 1000000 },
      },
    },
    auditQuery: {
      type: 'object',
      properties: {
        number: sequenceNumber,
        siteId,
        partitionId,
        invoiceType,
        event: { type: 'string', enum: ['issue', 'refill', 'release', 'void', 'setting'] },
        from: { type: 'string', minLength: 1, maxLength: 40 },
        to: { type: 'string', minLength: 1, maxLength: 40 },
        cursor: { type: 'integer', minimum: 0 },
        order: { type: 'string', enum: ['desc', 'asc'], default: 'desc' },
        limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
      },
    },
  } as const;
}

export interface NextInput {
  siteId: string;
  partitionId: string;
  invoiceType: (typeof INVOICE_TYPES)[number];
  count: number;
}
export interface ReleaseInput {
  sequenceNumber: number;
  siteId: string;
  partitionId: string;
  reason: string;
}
export interface SettingsInput {
  simulatedEnabled: boolean;
  reason?: string;
}
export interface GapsInput {
  status: 'open' | 'void' | 'refilled' | 'all';
  limit?: number;
}
export interface AuditInput {
  number?: number;
  siteId?: string;
  partitionId?: string;
  invoiceType?: (typeof INVOICE_TYPES)[number];
  event?: 'issue' | 'refill' | 'release' | 'void' | 'setting';
  from?: string;
  to?: string;
  cursor?: number;
  order: 'asc' | 'desc';
  limit: number;
}
