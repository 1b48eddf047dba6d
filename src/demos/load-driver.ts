import type { InvoiceType } from '../domain/types.js';
import type { SequenceService } from '../service/sequence-service.js';
import type { IssuedNumber, ProgressFn } from './demo-report.js';

export interface LoadResult {
  readonly numbers: IssuedNumber[];
  /** Per-request latency in ms, sorted ascending. */
  readonly latencies: number[];
  readonly errors: Record<string, number>;
  readonly durationMs: number;
  readonly perThread: number[];
}

/**
 * Runs `threads` concurrent clients inside the server, each asking for one number at a time
 * (the next request only after the previous reply), until `total` requests are done. Requests
 * rotate over every configured site, partition and the delivered invoice types.
 */
export async function driveLoad(
  service: SequenceService,
  threads: number,
  total: number,
  /** Who started the load, for the audit trail. */
  actor: string | null,
  onProgress?: ProgressFn,
): Promise<LoadResult> {
  const combos: { siteId: string; partitionId: string; invoiceType: InvoiceType }[] = [];
  for (const site of service.siteConfig) {
    for (const partitionId of site.partitions) {
      for (const invoiceType of ['on-cycle', 'off-cycle'] as const) combos.push({ siteId: site.id, partitionId, invoiceType });
    }
  }
  const numbers: IssuedNumber[] = [];
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const perThread = new Array<number>(threads).fill(0);
  let started = 0;
  let done = 0;
  const step = Math.max(1, Math.floor(total / 10));
  const t0 = performance.now();

  const worker = async (id: number): Promise<void> => {
    while (started < total) {
      const combo = combos[started % combos.length] ?? combos[0];
      started++;
      if (!combo) return;
      const t = performance.now();
      try {
        const r = await service.next({ ...combo, count: 1 }, actor);
        latencies.push(performance.now() - t);
        numbers.push({ series: r.series, number: r.sequenceNumber });
        perThread[id] = (perThread[id] ?? 0) + 1;
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'ERROR';
        errors[code] = (errors[code] ?? 0) + 1;
      }
      done++;
      if (onProgress && (done % step === 0 || done === total)) onProgress(done, total);
    }
  };
  await Promise.all(Array.from({ length: threads }, (_, i) => worker(i)));
  latencies.sort((a, b) => a - b);
  return { numbers, latencies, errors, durationMs: performance.now() - t0, perThread };
}
