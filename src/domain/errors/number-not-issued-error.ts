import { SeqdError } from './seqd-error.js';

/** The number was never issued in its series (404). Nothing was changed. */
export class NumberNotIssuedError extends SeqdError {
  override readonly name = 'NumberNotIssuedError';
  readonly code = 'NUMBER_NOT_ISSUED';
  readonly httpStatus = 404;
}
