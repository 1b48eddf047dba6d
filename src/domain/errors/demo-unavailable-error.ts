import { SeqdError } from './seqd-error.js';

/** A demo cannot run in the current mode or another demo is running (409). */
export class DemoUnavailableError extends SeqdError {
  override readonly name = 'DemoUnavailableError';
  readonly code = 'DEMO_UNAVAILABLE';
  readonly httpStatus = 409;
}
