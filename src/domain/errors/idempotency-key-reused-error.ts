import { SeqdError } from './seqd-error.js';

/**
 * The idempotency key was already used by a request with a different body (422). Nothing was
 * changed: a retry must repeat the original request exactly, a new request needs a new key.
 */
export class IdempotencyKeyReusedError extends SeqdError {
  override readonly name = 'IdempotencyKeyReusedError';
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  readonly httpStatus = 422;
}
