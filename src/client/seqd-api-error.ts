/** An error answer of seqd (the JSON error shape), or no answer at all from any instance. */
export class SeqdApiError extends Error {
  override readonly name = 'SeqdApiError';

  constructor(
    message: string,
    /** seqd's error code (`VALIDATION_ERROR`, `NUMBER_CONFIRMED`, …) or `UNREACHABLE`. */
    readonly code: string,
    /** HTTP status, 0 when no instance answered. */
    readonly status: number,
    readonly field?: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Whether the same request may succeed later (no answer, or 503). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 503;
  }
}
