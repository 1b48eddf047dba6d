import { SeqdError } from './seqd-error.js';

/** No such route or resource (404). */
export class NotFoundError extends SeqdError {
  override readonly name = 'NotFoundError';
  readonly code = 'NOT_FOUND';
  readonly httpStatus = 404;
}
