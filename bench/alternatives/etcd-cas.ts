import { Etcd3 } from 'etcd3';
import type { Row } from '../lib/types.js';
import { percentiles } from './run-tool.js';

/**
 * A naive counter on etcd, as first written by most: read the key, then a transaction that puts
 * value + 1 if the key's mod revision is unchanged, retried on failure; the etcd3 client with its
 * default policy. Every client that loses the race retries, so contention wastes most round trips.
 */
export async function etcdCas(endpoints: readonly string[], connections: number, seconds: number): Promise<Row> {
  const client = new Etcd3({ hosts: [...endpoints] });
  const key = `bench/naive-counter/${Date.now()}`;
  await client.put(key).value('0');
  const samples: number[] = [];
  let conflicts = 0;
  let errors = 0;
  const endAt = Date.now() + seconds * 1000;
  const worker = async () => {
    while (Date.now() < endAt) {
      const t0 = performance.now();
      try {
        for (;;) {
          const res = await client.get(key).exec();
          const kv = res.kvs[0];
          const value = Number(kv?.value.toString() ?? 0);
          const txn = await client
            .if(key, 'Mod', '==', kv?.mod_revision ?? '0')
            .then(client.put(key).value(String(value + 1)))
            .commit();
          if (txn.succeeded) break;
          conflicts++;
          if (Date.now() >= endAt) return;
        }
        samples.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, () => worker()));
  const elapsed = (performance.now() - t0) / 1000;
  await client.delete().key(key).catch(() => undefined);
  client.close();
  const rps = samples.length / elapsed;
  return {
    scenario: 'alternative: naive etcd compare-and-swap loop',
    tool: 'etcd3',
    connections,
    requestsPerSec: Math.round(rps),
    numbersPerSec: Math.round(rps),
    latencyMs: percentiles(samples),
    errors,
    note: `${conflicts.toLocaleString('en-US')} lost races retried`,
  };
}
