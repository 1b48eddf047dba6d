/** What a member's status says about leadership (a subset of etcd-client's LeaderClaim). */
export interface LeaderClaim {
  readonly reachable: boolean;
  readonly isLeader?: boolean | undefined;
  readonly raftTerm?: string | undefined;
}

/** How often the members are asked who leads (three status calls: negligible next to commits). */
export const LEADER_POLL_MS = 1000;
/** After a failed call to the leader, how often the members are asked until one leads. */
export const RECOVERY_POLL_MS = 100;
/** How long after a failed call to the leader transactions go out with short deadlines at most. */
export const RECOVERY_MAX_MS = 3000;
/**
 * Shortest deadline of a transaction while no member is known to lead: a follower that has not
 * noticed the leader's death yet passes it on to the dead leader, where it is lost; a short
 * deadline lets the retry (which resolves the batch by reading its key back) go out again soon.
 * Never below twice the slowest recent answer, so a slow cluster is not refused.
 */
export const RECOVERY_CALL_MS = 250;
/** Deadline of each status question while recovering (a status is answered without raft). */
export const RECOVERY_STATUS_MS = 250;

/**
 * The leader of the highest raft term any reachable member reports, as an index into
 * `statuses`; null when no member claims it at that term (an election under way). A leader cut
 * off from the majority still calls itself leader of its old term, so the term decides, not the
 * claim.
 */
export function leaderOf(statuses: readonly LeaderClaim[]): number | null {
  let top = -1n;
  for (const s of statuses) if (s.reachable && s.raftTerm !== undefined) top = BigInt(s.raftTerm) > top ? BigInt(s.raftTerm) : top;
  const i = statuses.findIndex((s) => s.reachable && s.isLeader === true && s.raftTerm !== undefined && BigInt(s.raftTerm) === top);
  return i < 0 ? null : i;
}

/**
 * Which member a transaction goes to. Sent to a follower, a transaction is passed on to the
 * leader and answered once the follower has applied it too: sending it to the leader saves that
 * hop. Only speed depends on this: uniqueness comes from each transaction's compare-and-swap
 * wherever it lands, and a transaction sent to a member that no longer leads is still passed on.
 *
 * After a failed call to the leader, the members are asked every `RECOVERY_POLL_MS` until one
 * leads (answers to questions asked before the failure are dropped), and meanwhile transactions
 * go round the members with `RECOVERY_CALL_MS` deadlines.
 */
export class EtcdLeaderRoute {
  private leader: number | null = null;
  /** When the last failed call to the leader was seen (0: none, or recovered since). */
  private recoveringSince = 0;
  /** The member whose failed call started the recovery (avoided while it lasts). */
  private failedMember: number | null = null;
  /** Bumped at each failure: answers to questions asked before it are stale. */
  private generation = 0;
  private asking: Promise<void> | null = null;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;

  /** `statuses(deadlineMs)`: every member's status, each asked with that deadline (default: the client's). */
  constructor(
    private readonly statuses: (deadlineMs?: number) => Promise<LeaderClaim[]>,
    private readonly now: () => number = Date.now,
  ) {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), LEADER_POLL_MS);
    this.timer.unref();
  }

  /** The member to send to now and the generation to report a failure with; null: none known. */
  current(): { readonly member: number; readonly generation: number } | null {
    return this.leader === null ? null : { member: this.leader, generation: this.generation };
  }

  /** True while no member is known to lead since a failed call to the leader (short deadlines). */
  recovering(): boolean {
    return this.leader === null && this.recoveringSince > 0 && this.now() - this.recoveringSince < RECOVERY_MAX_MS;
  }

  /** The member to leave out while recovering: the one whose call failed. */
  avoided(): number | null {
    return this.recovering() ? this.failedMember : null;
  }

  /**
   * A call to `member`, sent when `current()` answered `generation`, failed in a way that may mean
   * the member is gone: if it still counts as leader, find who leads now, asking often. A call
   * sent before an earlier recovery does not start another one.
   */
  failed(member: number, generation: number): void {
    if (this.leader !== member || generation !== this.generation) return;
    this.leader = null;
    this.failedMember = member;
    this.recoveringSince = this.now();
    const mine = ++this.generation;
    this.asking = null;
    const ask = () => {
      if (this.stopped || mine !== this.generation || !this.recovering()) return;
      void this.refresh(RECOVERY_STATUS_MS).then(() => {
        if (mine === this.generation && this.recovering()) setTimeout(ask, RECOVERY_POLL_MS).unref();
      });
    };
    ask();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private refresh(deadlineMs?: number): Promise<void> {
    const generation = this.generation;
    this.asking ??= this.statuses(deadlineMs)
      .then((s) => {
        if (generation !== this.generation) return;
        this.leader = leaderOf(s);
        if (this.leader !== null) this.recoveringSince = 0;
      })
      .catch(() => {
        if (generation === this.generation) this.leader = null;
      })
      .finally(() => {
        if (generation === this.generation) this.asking = null;
      });
    return this.asking;
  }
}
