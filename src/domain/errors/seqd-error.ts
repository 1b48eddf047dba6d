/** Shape of every error body the API returns: `{"error": SeqdErrorBody}`. */
export interface SeqdErrorBody {
  code: string;
  message: string;
  field?: string;
  allowed?: readonly (string | number)[];
  [extra: string]: unknown;
}

export interface SeqdErrorOptions {
  field?: string | undefined;
  allowed?: readonly (string | number)[] | undefined;
  details?: Record<string, unknown> | undefined;
  cause?: unknown;
}

/**
 * Base of every error seqd reports on purpose. Callers branch with `instanceof`, never on the
 * message. `retryable` tells a client whether the same request may succeed later unchanged.
 */
export abstract class SeqdError extends Error {
  abstract readonly code: string;
  abstract readonly httpStatus: number;
  readonly retryable: boolean = false;
  readonly field: string | undefined;
  readonly allowed: readonly (string | number)[] | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options: SeqdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.field = options.field;
    this.allowed = options.allowed;
    this.details = options.details;
  }

  toBody(): SeqdErrorBody {
    const body: SeqdErrorBody = { code: this.code, message: this.message };
    if (this.field !== undefined) body.field = this.field;
    if (this.allowed !== undefined) body.allowed = this.allowed;
    return { ...body, ...this.details, ...body };
  }
}
