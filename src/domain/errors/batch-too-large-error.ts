import { SeqdError } from './seqd-error.js';

/**
 * A batch would exceed the store's per-transaction limits (etcd: 128 operations, 1.5 MiB). The
 * worker splits the batch and commits the halves; a single request that is too large gets 413.
 */
export class BatchTooLargeError extends SeqdError {
  override readonly name = 'BatchTooLargeError';
  readonly code = 'BATCH_TOO_LARGE';
  readonly httpStatus = 413;
}
