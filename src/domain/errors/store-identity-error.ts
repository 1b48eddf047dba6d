/**
 * The store is not the one this data directory served, or it is older than what was seen
 * committed: a lost, emptied, replaced or rolled-back database. Start-up stops; never
 * retryable, since serving from it could hand out numbers already given.
 */
export class StoreIdentityError extends Error {
  override readonly name = 'StoreIdentityError';
}
