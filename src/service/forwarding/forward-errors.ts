/** The forwarded batch never reached the other instance: committing it here is safe. */
export class ForwardNotSentError extends Error {
  override readonly name = 'ForwardNotSentError';
}

/** The batch may have been committed by the other instance: its outcome is unknown. */
export class ForwardOutcomeUnknownError extends Error {
  override readonly name = 'ForwardOutcomeUnknownError';
}
