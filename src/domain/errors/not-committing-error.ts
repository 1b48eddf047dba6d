import { SeqdError } from './seqd-error.js';

/**
 * This instance does not take forwarded batches now (it is shutting down) (409). Nothing was
 * submitted: the sending instance commits the batch itself.
 */
export class NotCommittingError extends SeqdError {
  override readonly name = 'NotCommittingError';
  readonly code = 'NOT_COMMITTING';
  readonly httpStatus = 409;
}
