import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { EtcdCluster } from '../cluster/etcd-cluster.js';
import { dashboardRoutes } from '../dashboard/dashboard-routes.js';
import { LiveHub } from '../dashboard/live-hub.js';
import { ShuttingDownError } from '../domain/errors/index.js';
import { INVOICE_TYPES } from '../domain/types.js';
import type { SequenceService } from '../service/sequence-service.js';
import type { ClusterInfo } from '../storage/open-store.js';
import type { SeqdMetrics } from '../observability/metrics.js';
import type { ApiKeys } from '../security/api-keys.js';
import { installAuth } from './auth.js';
import { installErrorHandling } from './error-handler.js';
import type { InternalListener } from './internal-listener.js';
import { doc, hidden, registerOpenApi, TAGS } from './openapi.js';
import { recordRoutes } from './route-catalog.js';
import { SEQD_VERSION } from '../version.js';
import { adminRoutes } from './routes/admin-routes.js';
import { auditRoutes } from './routes/audit-routes.js';
import { demoRoutes, type DemoLimits } from './routes/demo-routes.js';
import { exportRoutes } from './routes/export-routes.js';
import { forwardRoutes } from './routes/forward-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { sequenceRoutes } from './routes/sequence-routes.js';
import { buildSchemas } from './schemas.js';
import { validatorCompiler } from './validation.js';

export interface HttpOptions {
  readonly bodyLimit: number;
  readonly gapReportLimit: number;
  readonly demo: DemoLimits;
  readonly logger: Logger;
  /** Shutting down: /ready answers 503 (requests are still served during the shutdown delay). */
  readonly isShuttingDown: () => boolean;
  /** The port is closing: new requests on open connections get 503 SHUTTING_DOWN. */
  readonly isClosing?: () => boolean;
  /** HA cluster view for stats (null on the embedded store). */
  readonly clusterInfo: () => Promise<ClusterInfo | null>;
  /** The managed local etcd cluster, for the failover demo (null otherwise). */
  readonly cluster: EtcdCluster | null;
  /** Prometheus metrics, served at `/metrics` and fed by every request. */
  readonly metrics?: SeqdMetrics | undefined;
  /** API keys and roles (not enforced when none is configured or required). */
  readonly keys?: ApiKeys | undefined;
  /** HTTPS: PEM certificate (chain) and private key. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** `server.internal-port`: the internal routes on their own port only. */
  readonly internal?: InternalListener | undefined;
}

/** The HTTP API. No per-request log line: logging on the hot path halves throughput. */
export async function buildServer(service: SequenceService, o: HttpOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: o.bodyLimit,
    // Keep-alive connections from load balancers and bill-run clients stay open between batches.
    keepAliveTimeout: 65_000,
    // Refused below with the seqd error shape instead of fastify's own 503 body.
    return503OnClosing: false,
    // The https server answers the same routes; typed as the http one (same request API).
    ...(o.tls ? { https: { cert: o.tls.cert, key: o.tls.key } } : {}),
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  recordRoutes(app);
  const metrics = o.metrics;
  installErrorHandling(app, metrics && ((code, status) => metrics.error(code, status)));
  o.internal?.installGuard(app);
  const isClosing = o.isClosing;
  if (isClosing) {
    app.addHook('onRequest', async (_req, reply) => {
      if (!isClosing()) return;
      reply.header('connection', 'close');
      throw new ShuttingDownError('this instance is shutting down: send the request to another one (nothing was done)');
    });
  }
  // Before any route or plugin: the check must cover every route, the API document's too.
  if (o.keys) installAuth(app, o.keys);
  // Before the routes: the document is built from the routes added after it.
  await registerOpenApi(app, SEQD_VERSION);
  // Only JSON bodies: a text/plain body would otherwise reach the handlers as a string.
  app.removeContentTypeParser('text/plain');
  if (metrics) {
    app.addHook('onResponse', (req, reply, done) => {
      metrics.request(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
    app.get('/metrics', { schema: doc(TAGS.ops, 'Prometheus metrics (text exposition format)') }, async (_req, reply) =>
      reply.type(metrics.contentType).send(await metrics.text()),
    );
  }
  const schemas = buildSchemas(service.siteConfig, service.maxCount);
  sequenceRoutes(app, service, schemas, o.gapReportLimit, o.clusterInfo);
  auditRoutes(app, service, schemas);
  forwardRoutes(app, service, schemas, o.isShuttingDown);
  exportRoutes(app, service, schemas);
  adminRoutes(app, service, schemas);
  const hub = new LiveHub(
    service,
    o.clusterInfo,
    () => ({
      node: service.node,
      storeKind: service.store.kind,
      sites: service.siteConfig,
      invoiceTypes: INVOICE_TYPES,
      maxCount: service.maxCount,
      demo: o.demo,
      managedCluster: o.cluster !== null,
    }),
    o.logger,
  );
  // Open event streams would keep the server from closing.
  app.addHook('preClose', async () => hub.close());
  demoRoutes(app, service, o.demo, o.cluster, o.clusterInfo, (event) => hub.publish('demo', event));
  healthRoutes(app, service, o.isShuttingDown);
  dashboardRoutes(app, hub);
  app.get('/', { config: { access: 'public' }, schema: hidden('a redirect to the dashboard') }, (_req, reply) => reply.redirect('/dashboard'));
  return app;
}
