import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthenticatedError } from '../domain/errors/index.js';
import type { Access, ApiKeyEntry, ApiKeys } from '../security/api-keys.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (default `read`: any valid key). See {@link Access}. */
    access?: Access;
  }
  interface FastifyRequest {
    /** The key the request was authenticated with; null or absent when none was needed. */
    apiKey?: ApiKeyEntry | null;
  }
}

/** The key a request was authenticated with (null: keys are off, or the route is public). */
export function requestKey(req: FastifyRequest): ApiKeyEntry | null {
  return req.apiKey ?? null;
}

/**
 * Who a request acts as, for the audit trail: its key's configured name, never the key itself
 * (null when keys are off).
 */
export function actorOf(req: FastifyRequest): string | null {
  return requestKey(req)?.name ?? null;
}

/** The cookie the dashboard keeps the key in (its event stream cannot send headers). */
export const KEY_COOKIE = 'seqd_key';

/** The key a request presents: `Authorization: Bearer`, `X-API-Key`, or the dashboard cookie. */
function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const header = req.headers['x-api-key'];
  if (typeof header === 'string') return header;
  const cookie = req.headers.cookie;
  if (cookie) {
    for (const part of cookie.split(';')) {
      const [name, ...rest] = part.trim().split('=');
      if (name === KEY_COOKIE) return decodeURIComponent(rest.join('='));
    }
  }
  return undefined;
}

/**
 * Checks every request against the API keys before anything else runs (so a refused request
 * reads no body and changes nothing): 401 without a valid key, 403 without the route's role.
 * Not installed at all when no key is configured or required (the POC on 127.0.0.1).
 */
export function installAuth(app: FastifyInstance, keys: ApiKeys): void {
  if (!keys.enforced) return;
  app.decorateRequest('apiKey', null);
  app.addHook('onRequest', async (req, reply) => {
    const access = req.routeOptions.config.access ?? 'read';
    const decision = keys.decide(access, presentedKey(req));
    if (decision.ok) {
      req.apiKey = decision.key;
      return;
    }
    if (decision.status === 401) {
      reply.header('www-authenticate', 'Bearer realm="seqd"');
      throw new UnauthenticatedError(decision.message);
    }
    throw new ForbiddenError(decision.message, { allowed: decision.allowed });
  });
}
