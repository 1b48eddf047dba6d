import { SeqdError } from './seqd-error.js';

/** The request body is larger than allowed (413). Nothing was changed. */
export class PayloadTooLargeError extends SeqdError {
  override readonly name = 'PayloadTooLargeError';
  readonly code = 'PAYLOAD_TOO_LARGE';
  readonly httpStatus = 413;
}
