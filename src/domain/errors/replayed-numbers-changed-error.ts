import { SeqdError } from './seqd-error.js';

/**
 * A retried request (same idempotency key) whose numbers did not all stay with it (409): some were
 * released, expired or handed to another allocation since. The details list which numbers it
 * still holds and what became of the others; none of them is handed out again as the caller's.
 */
export class ReplayedNumbersChangedError extends SeqdError {
  override readonly name = 'ReplayedNumbersChangedError';
  readonly code = 'REPLAYED_NUMBERS_CHANGED';
  readonly httpStatus = 409;
}
