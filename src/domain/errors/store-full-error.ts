import { SeqdError } from './seqd-error.js';

/**
 * The disk holding the store is full (503): the commit was rolled back, nothing of it was kept
 * and no number was handed out. seqd commits again by itself once there is space; the request may
 * be retried unchanged.
 */
export class StoreFullError extends SeqdError {
  override readonly name = 'StoreFullError';
  readonly code = 'STORE_FULL';
  readonly httpStatus = 503;
  override readonly retryable = true;
}
