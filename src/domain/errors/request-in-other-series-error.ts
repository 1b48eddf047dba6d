import { SeqdError } from './seqd-error.js';

/**
 * The idempotency key was committed in another series (another period: the request first landed
 * on the other side of a period change). Internal (409): the service answers the retry from that
 * series, so a key never owns numbers in two series.
 */
export class RequestInOtherSeriesError extends SeqdError {
  override readonly name = 'RequestInOtherSeriesError';
  readonly code = 'REQUEST_IN_OTHER_SERIES';
  readonly httpStatus = 409;
}
