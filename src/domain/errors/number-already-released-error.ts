import { SeqdError } from './seqd-error.js';

/** The number is already an open gap or void (409). Nothing was changed. */
export class NumberAlreadyReleasedError extends SeqdError {
  override readonly name = 'NumberAlreadyReleasedError';
  readonly code = 'NUMBER_ALREADY_RELEASED';
  readonly httpStatus = 409;
}
