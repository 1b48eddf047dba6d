/**
 * The deadline of one etcd call, following the cluster's pace. A fixed deadline turns a cluster
 * that is slow but working (a leader behind a slow link or disk, where a commit takes longer than
 * one deadline) into one that answers nothing: every call runs out, every retry too, and seqd
 * refuses everything although etcd commits each write a little later. So:
 * - a retry of the same call gets twice the deadline of the attempt before it;
 * - a call gets at least twice the slowest recent call (answered, or run out of time; decaying
 *   as fast answers come back), so one slow call lifts the deadline for the calls after it;
 * - never more than `maxMs`.
 * A member that is dead or cut off answers nothing at any pace: it still costs the configured
 * deadline (`baseMs`) while the cluster around it is fast, and the breaker then skips it.
 */
export class EtcdCallDeadline {
  private slowest = 0;

  constructor(
    readonly baseMs: number,
    readonly maxMs: number,
  ) {}

  /** The deadline (ms from now) of attempt `attempt` (1, 2, …) of a call. */
  timeoutMs(attempt = 1): number {
    const escalated = this.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 8);
    return Math.min(this.maxMs, Math.max(escalated, 2 * this.slowest));
  }

  /** Records how long a call took that was answered or ran out of its deadline. */
  observe(elapsedMs: number): void {
    // Each call lets the memory of a slow one fade by a fifth: ten fast calls and it is gone.
    this.slowest = Math.max(elapsedMs, this.slowest * 0.8);
  }
}
