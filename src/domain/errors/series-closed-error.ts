import { SeqdError } from './seqd-error.js';

/**
 * The series is closed (its period ended): it issues no more numbers (409). Reaching it means the
 * caller named an old series or this instance's clock is behind the one that closed it.
 */
export class SeriesClosedError extends SeqdError {
  override readonly name = 'SeriesClosedError';
  readonly code = 'SERIES_CLOSED';
  readonly httpStatus = 409;
}
