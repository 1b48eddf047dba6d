import type { FastifyInstance } from 'fastify';
import type { SequenceService } from '../../service/sequence-service.js';
import { doc, hidden, TAGS } from '../openapi.js';

export function healthRoutes(app: FastifyInstance, service: SequenceService, isShuttingDown: () => boolean): void {
  /** Liveness: the process answers. */
  app.get('/health', { config: { access: 'public' }, schema: doc(TAGS.ops, 'Liveness: the process answers') }, () => ({ status: 'UP', node: service.node, timestamp: new Date().toISOString() }));

  /**
   * A JSON route that does nothing: the benchmark's ceiling (same server, same body parsing and
   * serialisation, no allocation).
   */
  app.post('/api/v1/noop', { config: { access: 'public' }, schema: hidden('the benchmark ceiling, not an API') }, () => ({ ok: true }));

  /** Readiness: the store answers and the instance is not shutting down. */
  app.get('/ready', { config: { access: 'public' }, schema: doc(TAGS.ops, 'Readiness: the store answers and the instance is not shutting down (503 otherwise)') }, async (_req, reply) => {
    const store = await service.health();
    const ready = store.healthy && !isShuttingDown();
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'READY' : 'NOT_READY',
      node: service.node,
      store,
      shuttingDown: isShuttingDown(),
    });
  });
}
