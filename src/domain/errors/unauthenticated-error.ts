import { SeqdError } from './seqd-error.js';

/** No API key, or an unknown one (401). Nothing was done. */
export class UnauthenticatedError extends SeqdError {
  override readonly name = 'UnauthenticatedError';
  readonly code = 'UNAUTHENTICATED';
  readonly httpStatus = 401;
}
