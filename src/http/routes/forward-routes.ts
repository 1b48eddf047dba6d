import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotCommittingError } from '../../domain/errors/index.js';
import type { Op } from '../../domain/types.js';
import { FORWARD_PATH, HEARTBEAT_HEADER } from '../../service/forwarding/commit-forwarder.js';
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
    const beat = heartbeatMs(req.headers[HEARTBEAT_HEADER]);
    if (beat !== null) {
      // The sender tells a paused or dead instance from a slow commit by this: the status now,
      // then a space (JSON ignores it) every `beat` ms until the answer. A failure from here on
      // cuts the answer off, which the sender takes as unknown, as it is.
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'application/json' });
      reply.raw.write(' '); // sends the head now (writeHead alone waits for the first write)
      const timer = setInterval(() => reply.raw.write(' '), beat);
      try {
        results = await service.commitForwarded(series, ops);
      } catch (error) {
        req.log.error({ err: error, series }, 'forwarded batch failed after its answer began');
        reply.raw.destroy();
        return reply;
      } finally {
        clearInterval(timer);
      }
      const lost = req.raw.socket.destroyed || reply.raw.destroyed;
      if (lost) hungUp = true;
      else reply.raw.end(JSON.stringify({ results }));
      releaseIfLost();
      return reply;
    }
    results = await service.commitForwarded(series, ops);
    const answer = { results };
    // It may also have gone before this handler even ran (its 'close' came first).
    if (req.raw.socket.destroyed || reply.raw.destroyed) hungUp = true;
    releaseIfLost();
    return answer;
  });
}

/** The heartbeat period a sender asked for, within sane bounds; null without one. */
function heartbeatMs(header: string | string[] | undefined): number | null {
  const ms = Number(Array.isArray(header) ? header[0] : header);
  return Number.isInteger(ms) && ms >= 50 && ms <= 5000 ? ms : null;
}
