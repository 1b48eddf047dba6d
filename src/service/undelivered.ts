import { SYSTEM_ACTORS } from '../domain/actors.js';
import type { AllocateResult } from '../domain/planner.js';
import type { Op, ReleaseOp } from '../domain/types.js';

/**
 * The releases owed for allocations whose answer reached nobody (the outcome was unknown to the
 * caller, or the caller hung up): every number of an allocation without an idempotency key, as
 * `undelivered`, naming its allocation so that a repeat can never touch another holder. Keyed
 * requests are left alone: a retry with the key gets their numbers. seqd itself is their actor.
 */
export function undeliveredReleases(ops: readonly Op[], outcomes: readonly ({ ok: boolean } | AllocateResult | undefined)[]): ReleaseOp[] {
  const out: ReleaseOp[] = [];
  ops.forEach((op, i) => {
    const o = outcomes[i];
    if (op.kind !== 'allocate' || op.requestId !== undefined || !o || !('kind' in o) || o.kind !== 'allocate') return;
    if (o.released || !o.allocation) return;
    for (const n of o.numbers) {
      out.push({ kind: 'release', sequenceNumber: n, siteId: op.siteId, partitionId: op.partitionId, reason: 'undelivered', allocation: o.allocation, actor: SYSTEM_ACTORS.undelivered });
    }
  });
  return out;
}
