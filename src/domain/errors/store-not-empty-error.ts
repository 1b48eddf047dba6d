import { SeqdError } from './seqd-error.js';

/** A restore or migration aimed at a store that already holds series or an identity: nothing was written. */
export class StoreNotEmptyError extends SeqdError {
  override readonly name = 'StoreNotEmptyError';
  readonly code = 'STORE_NOT_EMPTY';
  readonly httpStatus = 409;
}
