import type { SequenceService } from '../service/sequence-service.js';
import { DemoRecorder, type DemoReport, type IssuedNumber } from './demo-report.js';

const MAX_REFILL_REQUESTS = 100;

/**
 * Gap creation and recovery: numbers are issued, a suppressed invoice and two releases leave
 * gaps, and the next requests take those gaps back, lowest first, before the counter moves.
 */
export async function runGapsDemo(service: SequenceService, actor: string | null): Promise<DemoReport> {
  const policy = service.gapPolicy;
  const recovery = policy !== 'none';
  const rec = new DemoRecorder(
    'gaps',
    policy === 'lowest-first'
      ? 'Gap management: suppressed and released invoices leave gaps; new requests refill them lowest first.'
      : policy === 'chronological'
        ? 'Gap management, chronological: a number released below a held one becomes void; gaps at the top are refilled.'
        : 'Gap management with recovery off: released numbers become void and the counter keeps moving.',
    { gapRecoveryEnabled: recovery, gapPolicy: policy },
  );
  // One site and partition throughout: with series split by site or partition, every step then
  // stays in one series (split by invoice type, the suppressed gap lands in its own series).
  const [site1] = service.siteConfig;
  const a = { siteId: site1?.id ?? 'site-1', partitionId: site1?.partitions[0] ?? 'partition-a' };
  const all: IssuedNumber[] = [];

  const issued: number[] = [];
  let series = '';
  for (let i = 0; i < 5; i++) {
    const r = await service.next({ ...a, invoiceType: 'on-cycle', count: 1 }, actor);
    issued.push(r.sequenceNumber);
    series = r.series;
    all.push({ series, number: r.sequenceNumber });
  }
  rec.step('issue five on-cycle invoices', { ...a, series, numbers: issued });

  const suppressed = await service.next({ ...a, invoiceType: 'suppressed', count: 1 }, actor);
  all.push({ series: suppressed.series, number: suppressed.sequenceNumber });
  rec.step('a suppressed invoice: issued and released at once', {
    ...a,
    series: suppressed.series,
    sequenceNumber: suppressed.sequenceNumber,
    status: suppressed.status,
    source: suppressed.refilled.length ? 'refilled gap' : 'counter',
  });

  const toRelease = [issued[1], issued[3]].filter((n): n is number => n !== undefined);
  for (const n of toRelease) {
    const r = await service.release({ sequenceNumber: n, ...a, series, reason: 'suppressed-bill' }, actor);
    rec.step(`release ${n} (reason suppressed-bill)`, { sequenceNumber: n, status: r.status });
  }
  const ours = [...toRelease, ...(suppressed.series === series ? [suppressed.sequenceNumber] : [])].sort((x, y) => x - y);
  const open = await service.numbers(series, ['open'], MAX_REFILL_REQUESTS);
  const voided = await service.numbers(series, ['void'], 1_000_000);
  rec.step('gap report', {
    openGaps: open.map((g) => ({ sequenceNumber: g.number, reason: g.reason, siteId: g.siteId })),
    demoGaps: ours,
    demoGapsVoid: ours.filter((n) => voided.some((v) => v.number === n)),
  });

  const requests = Math.min(MAX_REFILL_REQUESTS, open.length + 1);
  const refills: { sequenceNumber: number; source: string }[] = [];
  for (let i = 0; i < requests; i++) {
    const r = await service.next({ ...a, invoiceType: 'on-cycle', count: 1 }, actor);
    all.push({ series: r.series, number: r.sequenceNumber });
    refills.push({ sequenceNumber: r.sequenceNumber, source: r.refilled.length ? 'refilled gap' : 'counter' });
  }
  rec.step(`${requests} new requests`, { results: refills });

  const refilled = refills.filter((r) => r.source === 'refilled gap').map((r) => r.sequenceNumber);
  if (recovery) {
    rec.check(
      'gaps refilled lowest first',
      refilled.every((n, i) => i === 0 || n > (refilled[i - 1] ?? Infinity)),
      `refilled in order: ${refilled.join(', ') || 'none'}`,
    );
    // Other clients (or another instance) may take the gaps first: what matters is that each
    // gap was refilled, by whoever came next, and that the audit says so. Numbers voided on
    // release (chronological policy, below a held number) are never refilled.
    const stillOpen: number[] = [];
    for (const n of ours.filter((x) => !voided.some((v) => v.number === x))) {
      const [latest] = await service.audit({ series, number: n, order: 'desc', limit: 1 });
      if (latest?.type !== 'refill') stillOpen.push(n);
    }
    rec.check(
      "the demo's gaps were refilled",
      stillOpen.length === 0,
      stillOpen.length === 0
        ? `demo gaps ${ours.join(', ')} refilled (${refilled.length ? `by this demo: ${refilled.join(', ')}` : 'by other requests first'})`
        : `still not refilled: ${stillOpen.join(', ')}`,
    );
  } else {
    rec.check('no gap reused', refilled.length === 0, `${refilled.length} refills with recovery off`);
  }
  const last = refills[refills.length - 1];
  rec.check(
    'counter resumes after the gaps',
    last?.source === 'counter',
    `last request got ${last?.sequenceNumber ?? '-'} from the ${last?.source ?? '-'}`,
  );
  await rec.verifyCommon(service, all, ours.map((number) => ({ series, number })));
  return rec.finish({ gapsCreated: ours, refilled, gapRecoveryEnabled: recovery, gapPolicy: policy });
}
