import type { CallRetry, TxnReq, TxnRes } from './etcd-client.js';

/** etcd's per-request limits the combined transactions stay within. */
export interface TxnLimits {
  /** Compares, and separately success operations, per transaction. */
  readonly maxOps: number;
  /** Bytes per transaction: keys and values written, keys and values compared, and framing. */
  readonly maxBytes: number;
}

/** Transactions in flight at most (beyond it, batches wait); a busy store keeps one or two. */
const MAX_ROUNDS_IN_FLIGHT = 32;
/**
 * How long a ready batch waits behind a round in flight (a commit takes a few ms): a round stuck
 * on a silent member or an election must not hold up every other series.
 */
const HOLD_MS = 20;
/** Bytes counted per operation for framing, beside its key and value. */
const OP_OVERHEAD_BYTES = 16;
/**
 * Event-loop turns a ready round waits for the lanes (series) of the round just answered: their
 * next batches are planned in the turn after the answer, and would otherwise miss the round.
 */
const LINGER_TURNS = 3;

interface Part {
  readonly req: TxnReq;
  readonly retry: CallRetry | undefined;
  readonly lane: string;
  readonly puts: readonly string[];
  readonly compared: readonly string[];
  readonly bytes: number;
  readonly resolve: (res: TxnRes) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Sends the commit transactions of several series as ONE etcd transaction when they are ready
 * together. etcd's cost is per transaction (a raft proposal, its apply, gRPC on every member), so
 * two busy series cost one transaction per round instead of two.
 *
 * Safety: a combined transaction holds every part's compares and every part's writes, and etcd
 * applies it whole or not at all. Parts are combined only when no part writes a key another one
 * writes or compares, so the combination is the same as the parts run one after the other, each
 * with its own compares. A refused combination says only that some compare failed: each part is
 * then sent alone, and its caller gets that answer (its own failure reads included). An error or
 * timeout of a combination reaches every part's caller as one of its own tries going unanswered
 * ("maybe committed"): each re-sends its own transaction, which lands at most once (its audit key
 * must be absent).
 */
export class EtcdTxnCombiner {
  private readonly queue: Part[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** Lanes answered in the last round that have not sent their next part yet. */
  private awaited = new Set<string>();
  private turns = 0;
  /** When the newest round in flight was sent (ms). */
  private newestSent = 0;
  private holdTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly send: (req: TxnReq, retry?: CallRetry) => Promise<TxnRes>,
    private readonly limits: TxnLimits,
  ) {}

  /**
   * Commits `req` (alone or with others); `lane` names its series. `alone`: sent by itself at once
   * (a re-send: it may find its batch already landed, which would refuse everything with it).
   */
  txn(req: TxnReq, retry: CallRetry | undefined, lane: string, alone = false): Promise<TxnRes> {
    if (alone) return this.send(req, retry);
    const puts: string[] = [];
    let bytes = 0;
    for (const op of req.success) {
      // Range deletes and reads stay alone: only writes of single keys are checked for overlap.
      const key = 'request_put' in op ? op.request_put.key : 'request_delete_range' in op && !op.request_delete_range.range_end ? op.request_delete_range.key : null;
      if (!key) return this.send(req, retry);
      puts.push(key.toString('latin1'));
      bytes += key.length + ('request_put' in op ? op.request_put.value.length : 0) + OP_OVERHEAD_BYTES;
    }
    const compared = req.compare.map((c) => c.key.toString('latin1'));
    for (const c of req.compare) bytes += c.key.length + (c.value?.length ?? 0) + OP_OVERHEAD_BYTES;
    return new Promise<TxnRes>((resolve, reject) => {
      this.queue.push({ req, retry, lane, puts, compared, bytes, resolve, reject });
      this.awaited.delete(lane);
      this.kick();
    });
  }

  private kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    // More queued than one transaction holds: the overflow goes at once, in further rounds.
    let spilled = false;
    while (this.queue.length > 0 && this.inFlight < MAX_ROUNDS_IN_FLIGHT) {
      const round = this.take();
      const left = this.queue.length > 0;
      // Otherwise one round at a time, what arrives meanwhile joining the next one, unless the
      // round in flight is taking far longer than a commit does.
      const heldFor = Date.now() - this.newestSent;
      if (this.inFlight > 0 && !left && !spilled && heldFor < HOLD_MS) {
        this.putBack(round);
        this.holdTimer ??= setTimeout(() => {
          this.holdTimer = null;
          this.drain();
        }, HOLD_MS - heldFor).unref();
        return;
      }
      spilled ||= left;
      if (this.inFlight === 0 && this.awaited.size > 0 && this.turns < LINGER_TURNS) {
        this.putBack(round);
        this.turns++;
        return this.kick();
      }
      this.turns = 0;
      this.inFlight++;
      this.newestSent = Date.now();
      void this.run(round).finally(() => {
        this.inFlight--;
        this.awaited = new Set(round.map((p) => p.lane));
        this.kick();
      });
    }
  }

  private putBack(round: Part[]): void {
    this.queue.unshift(...round);
  }

  /** The oldest parts that fit together in one transaction (never empty when the queue is not). */
  private take(): Part[] {
    const round: Part[] = [];
    const written = new Set<string>();
    const compared = new Set<string>();
    let compares = 0;
    let ops = 0;
    let bytes = 0;
    for (let i = 0; i < this.queue.length; ) {
      const p = this.queue[i] as Part;
      const fits =
        round.length === 0 ||
        (compares + p.req.compare.length <= this.limits.maxOps &&
          ops + p.req.success.length <= this.limits.maxOps &&
          bytes + p.bytes <= this.limits.maxBytes &&
          p.puts.every((k) => !written.has(k) && !compared.has(k)) &&
          p.compared.every((k) => !written.has(k)));
      if (!fits) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      round.push(p);
      compares += p.req.compare.length;
      ops += p.req.success.length;
      bytes += p.bytes;
      for (const k of p.puts) written.add(k);
      for (const k of p.compared) compared.add(k);
    }
    return round;
  }

  private async run(round: readonly Part[]): Promise<void> {
    const [only] = round;
    if (only && round.length === 1) return this.alone(only);
    const retry = earliest(round);
    let res: TxnRes;
    try {
      res = await this.send(
        { compare: round.flatMap((p) => p.req.compare), success: round.flatMap((p) => p.req.success), failure: [] },
        retry,
      );
    } catch (error) {
      for (const p of round) p.reject(error);
      return;
    }
    if (res.succeeded) {
      for (const p of round) p.resolve({ succeeded: true, header: res.header, responses: [] });
      return;
    }
    // Nothing of the round landed: each part alone learns its own answer.
    await Promise.all(round.map((p) => this.alone(p)));
  }

  private async alone(p: Part): Promise<void> {
    try {
      p.resolve(await this.send(p.req, p.retry));
    } catch (error) {
      p.reject(error);
    }
  }
}

function earliest(round: readonly Part[]): CallRetry | undefined {
  let retry: CallRetry | undefined;
  for (const p of round) if (p.retry && (!retry || p.retry.until < retry.until)) retry = p.retry;
  return retry;
}
