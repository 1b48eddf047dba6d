import { SeqdError } from './seqd-error.js';

/**
 * The allocation named by a release or confirm no longer holds the number (409): it was released
 * or expired, and may since have been handed to another allocation. Nothing was changed; the
 * number is not the caller's any more.
 */
export class NumberReassignedError extends SeqdError {
  override readonly name = 'NumberReassignedError';
  readonly code = 'NUMBER_REASSIGNED';
  readonly httpStatus = 409;
}
