import type { FastifyInstance } from 'fastify';
import { NotCommittingError } from '../../domain/errors/index.js';
import type { Op } from '../../domain/types.js';
import { FORWARD_PATH } from '../../service/forwarding/commit-forwarder.js';
import type { SequenceService } from '../../service/sequence-service.js';
import { hidden } from '../openapi.js';
import type { buildSchemas } from '../schemas.js';

/**
 * The instance-to-instance route of HA commit forwarding: another instance sends a batch of ops for
 * a series this instance commits; they are committed here (never forwarded again) and every op's
 * outcome comes back in order. Always 200 once the ops are queued: refusals and failed commits are
 * per-op outcomes.
 */
export function forwardRoutes(
  app: FastifyInstance,
  service: SequenceService,
  schemas: ReturnType<typeof buildSchemas>,
  isShuttingDown: () => boolean,
): void {
  app.post<{ Body: { series: string; ops: Op[] } }>(FORWARD_PATH, { config: { access: 'internal' }, schema: { ...hidden('internal: batches forwarded between seqd instances'), body: schemas.forwardBody } }, async (req) => {
    // Refused before anything is queued, so the sender can safely commit the batch itself.
    if (isShuttingDown()) throw new NotCommittingError('this instance is shutting down; commit the batch yourself');
    const { series, ops } = req.body;
    const results = await service.commitForwarded(series, ops);
    // The sender gave up waiting (it answered its clients OUTCOME_UNKNOWN): numbers committed
    // for requests without a key would reach nobody; they become audited gaps instead.
    if (req.raw.socket.destroyed) {
      service.releaseUndelivered(series, ops, results).then(
        (n) => n > 0 && req.log.warn({ series, released: n }, 'forwarding sender hung up: numbers released as undelivered'),
        (error: unknown) => req.log.error({ err: error, series }, 'could not release undelivered numbers'),
      );
    }
    return { results };
  });
}
