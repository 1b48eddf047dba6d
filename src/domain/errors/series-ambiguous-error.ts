import { SeqdError } from './seqd-error.js';

/**
 * A release or confirm named no series, and the number is held in more than one that it could
 * mean (the new period's and the one just ended): 409, listing them in `allowed`. Nothing was
 * changed; send `series` or the allocation token.
 */
export class SeriesAmbiguousError extends SeqdError {
  override readonly name = 'SeriesAmbiguousError';
  readonly code = 'SERIES_AMBIGUOUS';
  readonly httpStatus = 409;
}
