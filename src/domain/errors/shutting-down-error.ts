import { SeqdError } from './seqd-error.js';

/** This instance is shutting down and takes no new request (503); another instance will. */
export class ShuttingDownError extends SeqdError {
  override readonly name = 'ShuttingDownError';
  readonly code = 'SHUTTING_DOWN';
  readonly httpStatus = 503;
  override readonly retryable = true;
}
