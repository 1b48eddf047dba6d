import { SeqdError } from './seqd-error.js';

/** Too many requests of this kind in a short time (429); retry after `retryAfterSeconds`. */
export class RateLimitedError extends SeqdError {
  override readonly name = 'RateLimitedError';
  readonly code = 'RATE_LIMITED';
  readonly httpStatus = 429;
  override readonly retryable = true;
}
