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
    options?: { cause?: unknown; details?: Readonly<Record<string, unknown>> },
  ) {
    super(message, options);
    this.details = options?.details ?? {};
  }

  /**
   * The other fields of the error body: what the refusal depends on, e.g. `status` and `reason`
   * of NUMBER_ALREADY_RELEASED (`expired` or the release's own reason), `allowed` values.
   */
  readonly details: Readonly<Record<string, unknown>>;

  /**
   * Whether the same request may succeed later (no answer, or 503). Not SERIES_STATE_MISMATCH:
   * that series serves nothing until an administrator repairs the store.
   */
  get retryable(): boolean {
    return this.status === 0 || (this.status === 503 && this.code !== 'SERIES_STATE_MISMATCH');
  }
}
