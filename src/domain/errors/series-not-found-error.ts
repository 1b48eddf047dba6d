import { SeqdError } from './seqd-error.js';

/** A request named a series that does not exist (404). Nothing was created or changed. */
export class SeriesNotFoundError extends SeqdError {
  override readonly name = 'SeriesNotFoundError';
  readonly code = 'SERIES_NOT_FOUND';
  readonly httpStatus = 404;
}
