import type { InvoiceType } from '../domain/types.js';
import type { SequenceService } from '../service/sequence-service.js';
import { DemoRecorder, type DemoReport, type IssuedNumber } from './demo-report.js';

/**
 * One number for every configured site × partition and for the delivered invoice types, one
 * after the other: each counter number must be higher than the one before in its series.
 */
/** `actor`: who started the demo (its numbers are real, and the trail names who took them). */
export async function runBasicDemo(service: SequenceService, actor: string | null): Promise<DemoReport> {
  const rec = new DemoRecorder(
    'basic',
    'Sequential generation: one number per site, partition and invoice type; counter numbers strictly increase within each series.',
    {},
  );
  const types: InvoiceType[] = ['on-cycle', 'off-cycle'];
  if (service.currentSettings.simulatedEnabled) types.push('simulated');
  const numbers: IssuedNumber[] = [];
  const fromCounter = new Map<string, number[]>();
  for (const site of service.siteConfig) {
    for (const partitionId of site.partitions) {
      for (const invoiceType of types) {
        const r = await service.next({ siteId: site.id, partitionId, invoiceType, count: 1 }, actor);
        numbers.push({ series: r.series, number: r.sequenceNumber });
        if (r.refilled.length === 0) fromCounter.set(r.series, [...(fromCounter.get(r.series) ?? []), r.sequenceNumber]);
        rec.step(`${site.id} / ${partitionId} / ${invoiceType}`, {
          sequenceNumber: r.sequenceNumber,
          series: r.series,
          source: r.refilled.length > 0 ? 'refilled gap' : 'counter',
          timestamp: r.timestamp,
        });
      }
    }
  }
  const runs = [...fromCounter.entries()];
  const consecutive = runs.every(([, ns]) => ns.every((n, i) => i === 0 || n > (ns[i - 1] ?? Infinity)));
  rec.check(
    'counter numbers strictly increasing',
    consecutive,
    runs.map(([series, ns]) => `${series}: ${ns.length} counter numbers ${ns[0] ?? '-'} … ${ns[ns.length - 1] ?? '-'}`).join('; ') || 'none',
  );
  await rec.verifyCommon(service, numbers);
  return rec.finish({
    requests: numbers.length,
    series: runs.map(([series]) => series),
    first: numbers[0]?.number ?? null,
    last: numbers[numbers.length - 1]?.number ?? null,
  });
}
