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
 * A transaction's deadline while no member is known to lead: a follower that has not noticed the
 * leader's death yet passes it on to the dead leader, where it is lost; a short deadline lets the
 * retry (which resolves the batch by reading its key back) go out again soon.
 */
export const RECOVERY_CALL_MS = 250;

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
  /** Bumped at each failure: answers to questions asked before it are stale. */
  private generation = 0;
  private asking: Promise<void> | null = null;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly statuses: () => Promise<LeaderClaim[]>,
    private readonly now: () => number = Date.now,
  ) {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), LEADER_POLL_MS);
    this.timer.unref();
  }

  /** The member to send to now, or null: no member is known to lead. */
  current(): number | null {
    return this.leader;
  }

  /** True while no member is known to lead since a failed call to the leader (short deadlines). */
  recovering(): boolean {
    return this.leader === null && this.recoveringSince > 0 && this.now() - this.recoveringSince < RECOVERY_MAX_MS;
  }

  /** A call to `member` failed: if it was the leader, find who leads now, asking often. */
  failed(member: number): void {
    if (this.leader !== member) return;
    this.leader = null;
    this.recoveringSince = this.now();
    this.generation++;
    this.asking = null;
    const ask = () => {
      if (this.stopped || !this.recovering()) return;
      void this.refresh().then(() => {
        if (this.recovering()) setTimeout(ask, RECOVERY_POLL_MS).unref();
      });
    };
    ask();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private refresh(): Promise<void> {
    const generation = this.generation;
    this.asking ??= this.statuses()
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
