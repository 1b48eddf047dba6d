import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../domain/errors/index.js';

/** Routes served only between instances when `server.internal-port` is set. */
const INTERNAL_PREFIX = '/internal/';
/** Probes a load balancer or orchestrator may also send to the internal port. */
const PROBES = new Set(['/health', '/ready']);

/**
 * A second port for the instance-to-instance routes (commit forwarding), so that a network
 * policy or firewall can keep them between seqd instances while clients reach only the API port.
 * Both ports run the same routes of one fastify instance; a guard answers 404 to `/internal/*`
 * on the API port and to everything but `/internal/*` and the probes on the internal port.
 * The internal-role key is still required on the internal port: the port is a second fence.
 */
export class InternalListener {
  private readonly sockets = new WeakSet<Socket>();
  private server: Server | null = null;

  /** Must run before any route is added, so that it covers every route. */
  installGuard(app: FastifyInstance): void {
    app.addHook('onRequest', async (req) => {
      // The route the router matched, not the request's spelling of it: the router decodes
      // escapes (/%69nternal/…) and drops an absolute-form prefix (POST http://h/internal/…).
      const route = req.routeOptions.url;
      const internal = route?.startsWith(INTERNAL_PREFIX) ?? false;
      const allowed = this.sockets.has(req.raw.socket) ? internal || (route !== undefined && PROBES.has(route)) : !internal;
      if (!allowed) throw new NotFoundError(`${req.method} ${req.url.split('?', 1)[0] ?? ''} is not served on this port`);
    });
  }

  /** Listens once the app is ready; resolves with the bound port. */
  async listen(app: FastifyInstance, host: string, port: number, tls?: { cert: Buffer; key: Buffer }): Promise<number> {
    await app.ready();
    const handler = (req: IncomingMessage, res: ServerResponse) => app.routing(req, res);
    const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, handler) : createHttpServer(handler);
    server.keepAliveTimeout = 65_000;
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => this.sockets.add(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  /** Stops accepting, lets answered connections go, and waits for the rest. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    const reaper = setInterval(() => server.closeIdleConnections(), 50);
    try {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    } finally {
      clearInterval(reaper);
    }
  }
}
