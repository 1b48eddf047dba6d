import * as crypto from 'node:crypto';
import type { AuditEvent } from './types.js';

/** Hash that the first event of every series chains to. */
export const GENESIS_HASH = '0'.repeat(64);

/** An audit event before its hash is computed. */
export type UnhashedEvent = Omit<AuditEvent, 'hash'>;

/**
 * Canonical bytes of an event: a JSON array in fixed field order, so that the hash never
 * depends on object key order or on optional fields being absent rather than null.
 */
export function canonicalEvent(e: UnhashedEvent): string {
  const fields: unknown[] = [
    e.series,
    e.seq,
    e.ts,
    e.type,
    e.first,
    e.last,
    e.siteId,
    e.partitionId,
    e.invoiceType,
    e.reason,
    e.requestId,
    e.batchId,
    e.node,
    e.prevHash,
  ];
  // Appended only when set, so events written before allocations (and actors) were recorded keep
  // their hash. An actor keeps its place after the allocation, null when there is none.
  const actor = e.actor ?? null;
  if (e.allocation !== null || actor !== null) fields.push(e.allocation);
  if (actor !== null) fields.push(actor);
  return JSON.stringify(fields);
}

/** SHA-256 over the canonical bytes; `prevHash` is part of them, which makes the chain. */
export function hashEvent(e: UnhashedEvent): string {
  return sha256Hex(canonicalEvent(e));
}

// One-shot hashing (Node 20.12+) skips a Hash object per event; older 20.x fall back.
type OneShotHash = (algorithm: string, data: string, encoding: 'hex') => string;
const oneShot = (crypto as { hash?: OneShotHash }).hash;
const sha256Hex: (data: string) => string = oneShot
  ? (data) => oneShot('sha256', data, 'hex')
  : (data) => crypto.createHash('sha256').update(data).digest('hex');

export function sealEvent(e: UnhashedEvent): AuditEvent {
  return { ...e, hash: hashEvent(e) };
}
