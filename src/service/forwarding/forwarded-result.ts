import type { Outcome } from '../../domain/planner.js';

/** One op's outcome from the instance that committed it. */
export interface ForwardedResult {
  readonly outcome: Outcome;
  /** Epoch ms of the commit that made it durable. */
  readonly committedAt: number;
}
