import type { SequenceService } from '../service/sequence-service.js';
import { DemoRecorder, percentile, type DemoReport, type ProgressFn } from './demo-report.js';
import { driveLoad } from './load-driver.js';

/** A burst of single-number requests from many clients: throughput, latency and consistency. */
export async function runLoadTestDemo(
  service: SequenceService,
  totalRequests: number,
  concurrentThreads: number,
  actor: string | null,
  onProgress?: ProgressFn,
): Promise<DemoReport> {
  const rec = new DemoRecorder(
    'load-test',
    'Load test: many concurrent single-number requests; throughput, latency and a full consistency check.',
    { totalRequests, concurrentThreads },
  );
  const hwmBefore = (await service.seriesStates())[0]?.hwm ?? 0;
  rec.step('start load', { totalRequests, concurrentThreads, highWaterMarkBefore: hwmBefore });
  const r = await driveLoad(service, concurrentThreads, totalRequests, actor, onProgress);
  const lat = r.latencies;
  const avg = lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : 0;
  const latencyMs = {
    avg: Math.round(avg * 1000) / 1000,
    p50: percentile(lat, 0.5),
    p95: percentile(lat, 0.95),
    p99: percentile(lat, 0.99),
    max: percentile(lat, 1),
  };
  const throughput = Math.round((r.numbers.length / r.durationMs) * 1000);
  rec.step('load finished', { durationMs: Math.round(r.durationMs), throughputPerSecond: throughput, latencyMs, errors: r.errors });
  rec.check('every request answered', r.numbers.length === totalRequests, `${r.numbers.length} of ${totalRequests} requests got a number`);
  await rec.verifyCommon(service, r.numbers);
  return rec.finish({
    requests: totalRequests,
    succeeded: r.numbers.length,
    failed: totalRequests - r.numbers.length,
    durationMs: Math.round(r.durationMs),
    throughputPerSecond: throughput,
    latencyMs,
    note: 'measured inside the server (no HTTP per request); see npm run bench for HTTP figures',
  });
}
