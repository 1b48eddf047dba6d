import { SeqdError } from './seqd-error.js';

/** The request body is not JSON (415). Nothing was changed. */
export class UnsupportedMediaTypeError extends SeqdError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly code = 'UNSUPPORTED_MEDIA_TYPE';
  readonly httpStatus = 415;
}
