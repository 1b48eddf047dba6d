import { StoreUnavailableError } from '../../domain/errors/index.js';
import type { EtcdKvClient, RequestOp } from './etcd-client.js';
import { keys, prefixEnd } from './etcd-codec.js';
import { decodeRequest, encodeRequest } from '../request-record-codec.js';

/**
 * Version of the data layout in etcd. 2: idempotency keys span series (`seqd/key/`), events and
 * number records name allocations. 3: events record who acted (their actor, in their hash: a seqd
 * before it would take them for edited). 4: a series state may carry an archive mark (a seqd before
 * it would not refuse ops on an archived series). A store written by a newer seqd is refused.
 */
export const ETCD_FORMAT = 4;
export const FORMAT_KEY = Buffer.from('seqd/format');
const PAGE = 500;
/** Records moved per transaction (each needs a compare and a put). */
const PER_TXN = 60;

/**
 * Brings the data in etcd to {@link ETCD_FORMAT}: from format 1, copies idempotency records kept
 * per series to their cross-series place, so a retry after the upgrade finds a key committed
 * before it in any period (format 3 changes no stored record: events without an actor read as
 * before). Idempotent; the format key is written last. Answers how many records moved.
 */
export async function upgradeEtcdFormat(client: EtcdKvClient, onProgress?: (moved: number) => void): Promise<number> {
  const current = await client.range({ key: FORMAT_KEY });
  const stored = Number(current.kvs[0]?.value.toString() ?? '1');
  if (stored > ETCD_FORMAT) {
    throw new StoreUnavailableError(`the etcd data was written by a newer seqd (format ${stored}; this one knows ${ETCD_FORMAT}): upgrade this instance`);
  }
  if (stored === ETCD_FORMAT) return 0;
  // Moved once, from format 1 only: records swept since must not come back.
  const moved = stored < 2 ? await moveLegacyRequests(client, onProgress) : 0;
  await client.txn({ compare: [], success: [{ request_put: { key: FORMAT_KEY, value: Buffer.from(String(ETCD_FORMAT)) } }], failure: [] });
  return moved;
}

/** Copies the per-series idempotency records of format 1 to `seqd/key/`, never overwriting. */
async function moveLegacyRequests(client: EtcdKvClient, onProgress?: (moved: number) => void): Promise<number> {
  const prefix = Buffer.from('seqd/req/');
  let from: Buffer = prefix;
  let moved = 0;
  for (;;) {
    const page = await client.range({ key: from, range_end: prefixEnd(prefix), limit: PAGE });
    const copies = page.kvs.flatMap((kv) => {
      // seqd/req/<series>/<encoded key>
      const path = kv.key.toString().slice(prefix.length);
      const slash = path.lastIndexOf('/');
      if (slash < 0) return [];
      const series = path.slice(0, slash);
      const key = decodeURIComponent(path.slice(slash + 1));
      return [{ key: keys.request(key), value: Buffer.from(encodeRequest(decodeRequest(key, kv.value.toString(), series))), lease: kv.lease }];
    });
    for (let i = 0; i < copies.length; i += PER_TXN) {
      const group = copies.slice(i, i + PER_TXN);
      const put = (c: (typeof group)[number]): RequestOp => ({ request_put: { key: c.key, value: c.value, ...(c.lease && c.lease !== '0' ? { lease: c.lease } : {}) } });
      const all = await client.txn({
        compare: group.map((c) => ({ key: c.key, target: 'Create', result: 'Equal', create_revision: '0' })),
        success: group.map(put),
        failure: [],
      });
      if (all.succeeded) moved += group.length;
      else {
        // Some are there already (an earlier, interrupted upgrade): one by one, never overwriting.
        for (const c of group) {
          const one = await client.txn({ compare: [{ key: c.key, target: 'Create', result: 'Equal', create_revision: '0' }], success: [put(c)], failure: [] });
          if (one.succeeded) moved++;
        }
      }
    }
    onProgress?.(moved);
    const last = page.kvs[page.kvs.length - 1];
    if (!page.more || !last) break;
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
  return moved;
}
