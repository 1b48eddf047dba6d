import { SeqdError } from './seqd-error.js';

/** The API key is valid but lacks the role this request needs (403). Nothing was done. */
export class ForbiddenError extends SeqdError {
  override readonly name = 'ForbiddenError';
  readonly code = 'FORBIDDEN';
  readonly httpStatus = 403;
}
