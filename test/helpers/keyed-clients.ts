import { setTimeout as sleep } from 'node:timers/promises';
import { http } from './seqd-server.js';

export interface KeyedTally {
  acknowledged: number[];
  /** Attempts that got no answer or an error, each sent again with the same key. */
  failed: number;
  /** Longest time (ms) between two answers of one client. */
  stall: number;
}

export interface KeyedClientsOptions {
  readonly url: string;
  readonly clients: number;
  /** Prefix of the idempotency keys (`<prefix>-<client>-<request>`). */
  readonly keyPrefix: string;
  readonly stop: () => boolean;
  readonly headers?: Record<string, string>;
  /** Pause before an attempt is sent again (ms). */
  readonly retryMs?: number;
  /** Filled as answers come (read it while the clients run); a new one when absent. */
  readonly tally?: KeyedTally;
}

const HOLDER = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };

/**
 * Clients allocating with idempotency keys, as the SDK does: an attempt that fails is counted and
 * the same request (same key) is sent again until it is answered; a request is never given up.
 */
export function driveKeyedClients(o: KeyedClientsOptions): Promise<KeyedTally> {
  const t: KeyedTally = o.tally ?? { acknowledged: [], failed: 0, stall: 0 };
  const client = async (id: number) => {
    let last = performance.now();
    for (let i = 0; !o.stop(); i++) {
      const key = `${o.keyPrefix}-${id}-${i}`;
      for (;;) {
        const r = await http<{ numbers: number[] }>(o.url, 'POST', '/api/v1/sequence/next', HOLDER, { ...o.headers, 'idempotency-key': key }).catch(() => null);
        if (r?.status === 200) {
          t.acknowledged.push(...r.body.numbers);
          break;
        }
        t.failed++;
        await sleep(o.retryMs ?? 20);
      }
      const now = performance.now();
      t.stall = Math.max(t.stall, now - last);
      last = now;
    }
  };
  return Promise.all(Array.from({ length: o.clients }, (_, i) => client(i))).then(() => t);
}
