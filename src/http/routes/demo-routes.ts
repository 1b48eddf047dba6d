import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DemoUnavailableError, RateLimitedError } from '../../domain/errors/index.js';
import { runBasicDemo } from '../../demos/basic-demo.js';
import { runConcurrentDemo } from '../../demos/concurrent-demo.js';
import type { DemoReport } from '../../demos/demo-report.js';
import { runGapsDemo } from '../../demos/gaps-demo.js';
import { runLoadTestDemo } from '../../demos/load-test-demo.js';
import type { EtcdCluster } from '../../cluster/etcd-cluster.js';
import { runFailoverDemo } from '../../demos/failover-demo.js';
import type { SequenceService } from '../../service/sequence-service.js';
import type { ClusterInfo } from '../../storage/open-store.js';
import { actorOf } from '../auth.js';
import { doc, TAGS } from '../openapi.js';

/** Demo lifecycle for live views: started, progress, finished or failed. */
export interface DemoEvent {
  readonly demo: string;
  readonly phase: 'started' | 'progress' | 'finished' | 'failed';
  readonly done?: number;
  readonly total?: number;
  readonly passed?: boolean;
  readonly durationMs?: number;
  readonly message?: string;
}

export interface DemoLimits {
  readonly enabled: boolean;
  readonly maxTotalRequests: number;
  readonly maxThreads: number;
  readonly maxRequestsPerThread: number;
  /** Most demo runs started per minute on this instance (429 beyond). */
  readonly runsPerMinute: number;
}

/**
 * The seed's demos. Parameters come in the query string (as in the seed's curl commands) and are
 * bounded; heavy demos (concurrent, load-test) run one at a time and log their progress.
 */
export function demoRoutes(
  app: FastifyInstance,
  service: SequenceService,
  limits: DemoLimits,
  cluster: EtcdCluster | null,
  clusterInfo: () => Promise<ClusterInfo | null>,
  onDemoEvent: (event: DemoEvent) => void = () => undefined,
): void {
  let heavyRunning: string | null = null;
  const tracked = async (name: string, run: () => Promise<DemoReport>): Promise<DemoReport> => {
    onDemoEvent({ demo: name, phase: 'started' });
    try {
      const report = await run();
      onDemoEvent({ demo: name, phase: 'finished', passed: report.verification.passed, durationMs: report.durationMs });
      return report;
    } catch (error) {
      onDemoEvent({ demo: name, phase: 'failed', message: (error as Error).message });
      throw error;
    }
  };
  const heavy = async (name: string, run: () => Promise<DemoReport>): Promise<DemoReport> => {
    if (heavyRunning) throw new DemoUnavailableError(`the ${heavyRunning} demo is running; try again when it has finished`);
    heavyRunning = name;
    try {
      return await tracked(name, run);
    } finally {
      heavyRunning = null;
    }
  };
  const progress = (name: string) => (done: number, total: number) => {
    app.log.info({ demo: name, done, total }, `${name} demo: ${done}/${total}`);
    onDemoEvent({ demo: name, phase: 'progress', done, total });
  };

  // Start times of the demo runs of the last minute: demos write real numbers, so a script
  // hammering them would fill the series with demo invoices.
  const starts: number[] = [];
  const gate = async (_req: FastifyRequest, reply: FastifyReply) => {
    if (!limits.enabled) throw new DemoUnavailableError('demos are disabled by configuration (sequence.demo.enabled)');
    const now = Date.now();
    while (starts.length && (starts[0] ?? now) <= now - 60_000) starts.shift();
    if (starts.length >= limits.runsPerMinute) {
      const retryAfterSeconds = Math.max(1, Math.ceil(((starts[0] ?? now) + 60_000 - now) / 1000));
      reply.header('retry-after', String(retryAfterSeconds));
      throw new RateLimitedError(`at most ${limits.runsPerMinute} demo runs per minute (security.demo-runs-per-minute); retry in ${retryAfterSeconds} s`, {
        details: { retryAfterSeconds },
      });
    }
    starts.push(now);
  };

  app.post('/api/v1/demo/basic', { config: { access: 'admin' }, onRequest: gate, schema: doc(TAGS.demo, 'One number per site, partition and type; strictly increasing per series') }, (req) => tracked('basic', () => runBasicDemo(service, actorOf(req))));
  app.post('/api/v1/demo/gaps', { config: { access: 'admin' }, onRequest: gate, schema: doc(TAGS.demo, 'Gaps from suppressed and released invoices, then refilled under the gap policy') }, (req) => tracked('gaps', () => runGapsDemo(service, actorOf(req))));

  app.post<{ Querystring: { threads: number; requestsPerThread: number } }>(
    '/api/v1/demo/concurrent',
    {
      config: { access: 'admin' }, onRequest: gate,
      schema: {
        ...doc(TAGS.demo, 'Many clients at once: no number twice'),
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            threads: { type: 'integer', minimum: 1, maximum: Math.min(limits.maxThreads, 1000), default: 4 },
            requestsPerThread: { type: 'integer', minimum: 1, maximum: limits.maxRequestsPerThread, default: 25 },
          },
        },
      },
    },
    (req) =>
      heavy('concurrent', () =>
        runConcurrentDemo(service, req.query.threads, req.query.requestsPerThread, actorOf(req), progress('concurrent')),
      ),
  );

  app.post<{ Querystring: { totalRequests: number; concurrentThreads: number } }>(
    '/api/v1/demo/load-test',
    {
      config: { access: 'admin' }, onRequest: gate,
      schema: {
        ...doc(TAGS.demo, 'A burst of single-number requests: throughput, latency, consistency'),
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            totalRequests: { type: 'integer', minimum: 1, maximum: limits.maxTotalRequests, default: 1000 },
            concurrentThreads: { type: 'integer', minimum: 1, maximum: limits.maxThreads, default: 10 },
          },
        },
      },
    },
    (req) =>
      heavy('load-test', () =>
        runLoadTestDemo(service, req.query.totalRequests, req.query.concurrentThreads, actorOf(req), progress('load-test')),
      ),
  );

  app.post<{ Querystring: { clients: number; afterRecoveryMs: number } }>(
    '/api/v1/demo/failover',
    {
      config: { access: 'admin' }, onRequest: gate,
      schema: {
        ...doc(TAGS.demo, 'Kill the etcd leader under load and measure the stall (managed cluster only)'),
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            clients: { type: 'integer', minimum: 1, maximum: 64, default: 8 },
            afterRecoveryMs: { type: 'integer', minimum: 0, maximum: 10000, default: 1000 },
          },
        },
      },
    },
    (req) => {
      if (!cluster) {
        throw new DemoUnavailableError(
          'the failover demo needs the managed local etcd cluster (profile ha-poc, sequence.etcd.embedded: true)',
        );
      }
      return heavy('failover', () => runFailoverDemo(service, cluster, clusterInfo, req.query, actorOf(req), progress('failover')));
    },
  );
}
