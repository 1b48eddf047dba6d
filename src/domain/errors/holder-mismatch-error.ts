import { SeqdError } from './seqd-error.js';

/** The number is held by another site or partition than the one named (409). Nothing was changed. */
export class HolderMismatchError extends SeqdError {
  override readonly name = 'HolderMismatchError';
  readonly code = 'HOLDER_MISMATCH';
  readonly httpStatus = 409;
}
