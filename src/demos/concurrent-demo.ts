import type { SequenceService } from '../service/sequence-service.js';
import { DemoRecorder, type DemoReport, type ProgressFn } from './demo-report.js';
import { driveLoad } from './load-driver.js';

/** Several clients at once, each taking numbers one by one: no number may appear twice. */
export async function runConcurrentDemo(
  service: SequenceService,
  threads: number,
  requestsPerThread: number,
  actor: string | null,
  onProgress?: ProgressFn,
): Promise<DemoReport> {
  const rec = new DemoRecorder(
    'concurrent',
    'Concurrent access: several clients request numbers at the same time; every number is handed out once.',
    { threads, requestsPerThread },
  );
  const total = threads * requestsPerThread;
  rec.step('start clients', { threads, requestsPerThread, totalRequests: total });
  const r = await driveLoad(service, threads, total, actor, onProgress);
  const sorted = r.numbers.map((x) => x.number).sort((a, b) => a - b);
  rec.step('all clients finished', {
    received: r.numbers.length,
    lowest: sorted[0] ?? null,
    highest: sorted[sorted.length - 1] ?? null,
    perThread: r.perThread,
    errors: r.errors,
  });
  rec.check('every request answered', r.numbers.length === total, `${r.numbers.length} of ${total} requests got a number`);
  await rec.verifyCommon(service, r.numbers);
  return rec.finish({
    requests: total,
    numbers: r.numbers.length,
    durationMs: Math.round(r.durationMs),
    throughputPerSecond: Math.round((r.numbers.length / r.durationMs) * 1000),
  });
}
