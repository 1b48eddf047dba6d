import { SeqdError } from './seqd-error.js';

/**
 * A replay-only allocation found no record of its idempotency key in the series asked (404).
 * Internal: the service then allocates in the series of the current period.
 */
export class RequestKeyNotFoundError extends SeqdError {
  override readonly name = 'RequestKeyNotFoundError';
  readonly code = 'REQUEST_KEY_NOT_FOUND';
  readonly httpStatus = 404;
}
