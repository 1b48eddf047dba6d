import type { FastifyInstance } from 'fastify';
import { SeqdError } from '../domain/errors/seqd-error.js';

/**
 * The path exists, but not for this method (405). An HTTP-only error: it lives here, not among
 * the domain errors, and is answered with an `Allow` header listing the methods that path takes.
 */
export class MethodNotAllowedError extends SeqdError {
  override readonly name = 'MethodNotAllowedError';
  readonly code = 'METHOD_NOT_ALLOWED';
  readonly httpStatus = 405;
}

/** Every method a route can be added for; the router is asked about each. */
const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const;

/**
 * The methods some route serves `url` with (the query is ignored), sorted; empty when no route
 * matches the path at all. Asked only for requests no route matched, so its cost is off the hot path.
 */
export function allowedMethods(app: FastifyInstance, url: string): string[] {
  return METHODS.filter((method) => {
    try {
      return app.findRoute({ method, url }) !== null;
    } catch {
      // A URL the router cannot decode matches no route.
      return false;
    }
  });
}
