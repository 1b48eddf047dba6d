import { SeqdError } from './seqd-error.js';

/** The request is malformed or a value is outside what is allowed (400). Nothing was changed. */
export class ValidationError extends SeqdError {
  override readonly name = 'ValidationError';
  readonly code = 'VALIDATION_ERROR';
  readonly httpStatus = 400;
}
