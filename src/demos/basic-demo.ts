import type { InvoiceType } from '../domain/types.js';
import type { SequenceService } from '../service/sequence-service.js';
import { DemoRecorder, type DemoReport } from './demo-report.js';

/**
 * One number for every configured site × partition and for the delivered invoice types, one
 * after the other: each reply must be higher than the one before, from one global series.
 */
export async function runBasicDemo(service: SequenceService): Promise<DemoReport> {
  const rec = new DemoRecorder(
    'basic',
    'Sequential generation: one number per site, partition and invoice type, all from the same global series.',
    {},
  );
  const types: InvoiceType[] = ['on-cycle', 'off-cycle'];
  if (service.currentSettings.simulatedEnabled) types.push('simulated');
  const numbers: number[] = [];
  const fromCounter: number[] = [];
  for (const site of service.siteConfig) {
    for (const partitionId of site.partitions) {
      for (const invoiceType of types) {
        const r = await service.next({ siteId: site.id, partitionId, invoiceType, count: 1 });
        numbers.push(r.sequenceNumber);
        if (r.refilled.length === 0) fromCounter.push(r.sequenceNumber);
        rec.step(`${site.id} / ${partitionId} / ${invoiceType}`, {
          sequenceNumber: r.sequenceNumber,
          source: r.refilled.length > 0 ? 'refilled gap' : 'counter',
          timestamp: r.timestamp,
        });
      }
    }
  }
  const consecutive = fromCounter.every((n, i) => i === 0 || n > (fromCounter[i - 1] ?? Infinity));
  rec.check(
    'counter numbers strictly increasing',
    consecutive,
    `${fromCounter.length} counter numbers: ${fromCounter[0] ?? '-'} … ${fromCounter[fromCounter.length - 1] ?? '-'}`,
  );
  await rec.verifyCommon(service, numbers);
  return rec.finish({ requests: numbers.length, first: numbers[0] ?? null, last: numbers[numbers.length - 1] ?? null });
}
