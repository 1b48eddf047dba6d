import { SeqdError } from './seqd-error.js';

/**
 * The number was confirmed (its invoice is final) and cannot be released (409). Nothing was
 * changed: a final invoice is corrected by a credit note, not by freeing its number.
 */
export class NumberConfirmedError extends SeqdError {
  override readonly name = 'NumberConfirmedError';
  readonly code = 'NUMBER_CONFIRMED';
  readonly httpStatus = 409;
}
