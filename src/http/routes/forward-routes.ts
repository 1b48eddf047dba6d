import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotCommittingError } from '../../domain/errors/index.js';
import type { Op } from '../../domain/types.js';
import { FORWARD_PATH } from '../../service/forwarding/commit-forwarder.js';
import type { SequenceService } from '../../service/sequence-service.js';
import { actorOf, requestKey } from '../auth.js';
import { hidden } from '../openapi.js';
import type { buildSchemas } from '../schemas.js';

/**
 * A forwarded batch holds up to a store batch of ops (500 on etcd, ~150 bytes each): well above the
 * client body limit, which would refuse it (413) and make the sender commit itself.
 */
const FORWARD_BODY_LIMIT = 4 * 1024 * 1024;

/**
 * Whether the actors of forwarded ops are taken as sent: from another instance (a key with the
 * `internal` role: the instances' shared secret, which may commit any op anyway), or when keys are
 * off (nothing is authenticated then). A forward made with any other key (an `admin` key also
 * passes the route's check) acts as that key: it cannot put another key's name on its ops.
 */
function trustedActors(req: FastifyRequest): boolean {
  const key = requestKey(req);
  return key === null || key.roles.includes('internal');
}

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
  app.post<{ Body: { series: string; ops: Op[] } }>(FORWARD_PATH, { config: { access: 'internal' }, bodyLimit: FORWARD_BODY_LIMIT, schema: { ...hidden('internal: batches forwarded between seqd instances'), body: schemas.forwardBody } }, async (req, reply) => {
    // Refused before anything is queued, so the sender can safely commit the batch itself.
    if (isShuttingDown()) throw new NotCommittingError('this instance is shutting down; commit the batch yourself');
    const { series } = req.body;
    const ops = trustedActors(req) ? req.body.ops : req.body.ops.map((op) => ({ ...op, actor: actorOf(req) }));
    // If the sender gives up waiting (it answers its clients OUTCOME_UNKNOWN) before the answer is
    // fully written, numbers committed for requests without a key would reach nobody: they are
    // released as audited gaps instead. Watched from now until the answer is written.
    let results: Awaited<ReturnType<typeof service.commitForwarded>> | null = null;
    let hungUp = false;
    const releaseIfLost = () => {
      if (!results || !hungUp) return;
      const lost = results;
      results = null;
      service.releaseUndelivered(series, ops, lost).then(
        (n) => n > 0 && req.log.warn({ series, released: n }, 'forwarding sender hung up: numbers released as undelivered'),
        (error: unknown) => req.log.error({ err: error, series }, 'could not release undelivered numbers'),
      );
    };
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished) return;
      hungUp = true;
      releaseIfLost();
    });
    results = await service.commitForwarded(series, ops);
    const answer = { results };
    // It may also have gone before this handler even ran (its 'close' came first).
    if (req.raw.socket.destroyed || reply.raw.destroyed) hungUp = true;
    releaseIfLost();
    return answer;
  });
}
