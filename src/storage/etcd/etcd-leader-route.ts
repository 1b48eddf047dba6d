/** What a member's status says about leadership (a subset of etcd-client's LeaderClaim). */
export interface LeaderClaim {
  readonly reachable: boolean;
  readonly isLeader?: boolean | undefined;
  readonly raftTerm?: string | undefined;
}

/** How often the members are asked who leads (three status calls: negligible next to commits). */
export const LEADER_POLL_MS = 1000;
/** After a failed call to the leader, transactions go round the members this long. */
export const LEADER_PAUSE_MS = 1000;

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
 * hop (measured about 14 % more commits on one machine, docs/PERFORMANCE.md). Only speed depends
 * on this: uniqueness comes from each transaction's compare-and-swap wherever it lands, and a
 * transaction sent to a member that is no longer leader is still passed on.
 */
export class EtcdLeaderRoute {
  private leader: number | null = null;
  private pausedUntil = 0;
  private asking: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly statuses: () => Promise<LeaderClaim[]>,
    private readonly now: () => number = Date.now,
  ) {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), LEADER_POLL_MS);
    this.timer.unref();
  }

  /** The member to send to now, or null: let the client spread calls over the members. */
  current(): number | null {
    return this.now() < this.pausedUntil ? null : this.leader;
  }

  /** A call to `member` failed: round the members for a while, and ask who leads now. */
  failed(member: number): void {
    if (this.leader === member) this.pausedUntil = this.now() + LEADER_PAUSE_MS;
    void this.refresh();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private refresh(): Promise<void> {
    this.asking ??= this.statuses()
      .then((s) => {
        this.leader = leaderOf(s);
      })
      .catch(() => {
        this.leader = null;
      })
      .finally(() => {
        this.asking = null;
      });
    return this.asking;
  }
}
