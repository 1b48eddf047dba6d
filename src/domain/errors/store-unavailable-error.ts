import { SeqdError } from './seqd-error.js';

/** The store cannot commit right now (disk error, no quorum). The request may be retried; seqd never answers with a number it could not make durable. */
export class StoreUnavailableError extends SeqdError {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'STORE_UNAVAILABLE';
  readonly httpStatus = 503;
  override readonly retryable = true;
}
