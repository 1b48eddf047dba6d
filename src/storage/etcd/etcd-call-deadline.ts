/**
 * The deadline of one etcd call, following the cluster's pace. A fixed deadline turns a cluster
 * that is slow but working (a leader behind a slow link or disk, where every commit takes longer
 * than one deadline) into one that answers nothing: every call runs out, every retry too, and
 * seqd refuses everything although etcd commits each write a little later. So:
 * - a call gets at least twice the slowest recent answer (decaying as fast answers come back),
 *   so one slow answer lifts the deadline for the calls after it;
 * - calls that keep running out, with no answer in between, for longer than `patienceMs`, double
 *   the deadline of the calls after them, until one is answered;
 * - never more than `maxMs`.
 * Running out for a short while does not lengthen anything: a dead or paused member, or an
 * election (etcd holds a proposal sent to a leader that just died until its deadline), is got
 * past fastest by trying again soon, not by waiting longer.
 */
export class EtcdCallDeadline {
  private slowest = 0;
  private runningOutSince: number | null = null;

  constructor(
    readonly baseMs: number,
    readonly maxMs: number,
    readonly patienceMs: number,
  ) {}

  /** The deadline of the next call, in ms from now. */
  timeoutMs(): number {
    return Math.min(this.maxMs, Math.max(this.baseMs, 2 * this.slowest));
  }

  /** The slowest recent answer, in ms (fading as fast answers come back). */
  recentMs(): number {
    return this.slowest;
  }

  /** A call was answered after `elapsedMs`. */
  answered(elapsedMs: number): void {
    // Each answer lets the memory of a slow one fade by a fifth: ten fast ones and it is gone.
    this.slowest = Math.max(elapsedMs, this.slowest * 0.8);
    this.runningOutSince = null;
  }

  /** A call ran out of its deadline of `deadlineMs` at `now` (epoch ms). */
  ranOut(deadlineMs: number, now: number): void {
    this.runningOutSince ??= now;
    if (now - this.runningOutSince >= this.patienceMs) this.slowest = Math.max(this.slowest, deadlineMs);
  }
}
