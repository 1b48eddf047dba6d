import { SeqdError } from './seqd-error.js';

/**
 * The store could not tell whether the commit landed (503): the request may or may not have taken
 * effect. A retry with the same idempotency key is safe. Without a key, seqd resolves the batch
 * itself once the store answers again: numbers that landed but reached nobody are released with
 * reason `undelivered`, so they show as audited gaps.
 */
export class OutcomeUnknownError extends SeqdError {
  override readonly name = 'OutcomeUnknownError';
  readonly code = 'OUTCOME_UNKNOWN';
  readonly httpStatus = 503;
  override readonly retryable = true;
}
