import { SeqdError } from './seqd-error.js';

/**
 * The stored state of a series contradicts its audit trail (a high-water mark below a number the
 * trail issued, an open gap the trail never released, a head that is not the trail's last event).
 * Allocating from it could give one number to two invoices, so the series serves nothing until
 * an administrator repairs the store; it is checked again every few seconds. Not retryable by
 * clients: a retry cannot succeed before the repair.
 */
export class SeriesStateMismatchError extends SeqdError {
  override readonly name = 'SeriesStateMismatchError';
  readonly code = 'SERIES_STATE_MISMATCH';
  readonly httpStatus = 503;
}
