import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import type { Op } from '../../domain/types.js';
import { OutcomeUnknownError, StoreUnavailableError } from '../../domain/errors/index.js';
import { ForwardNotSentError, ForwardOutcomeUnknownError } from './forward-errors.js';
import { decodeOutcome, type WireOutcome } from './outcome-codec.js';
import type { ForwardedResult } from './forwarded-result.js';

export interface PeerInstance {
  readonly node: string;
  readonly url: string;
  /** It beats while it commits a forwarded batch (absent: a version before heartbeats). */
  readonly heartbeat?: boolean;
}

export interface CommitForwarderOptions {
  /** This instance's node id. */
  readonly node: string;
  /** The live instances (the lease registry in etcd). */
  readonly peers: () => Promise<PeerInstance[]>;
  readonly refreshMs?: number;
  /**
   * How long the committing instance may stay silent once its answer began: it writes a byte
   * every {@link HEARTBEAT_MS} while a batch commits, so silence means paused, dead or cut off,
   * not a slow commit. Past it the batch is "unknown" and this instance commits itself for a while.
   */
  readonly silenceMs?: number;
  /**
   * How long its answer may take to begin (the body sent, parsed and checked first). An instance
   * without heartbeats (an older version) is given 3 s in all, as before them.
   */
  readonly firstByteMs?: number;
  /**
   * How long a forwarded batch may take in all: above the committing instance's own retry budget
   * (2.5 s on etcd) plus an election, below a client's patience (the SDK's 10 s).
   */
  readonly timeoutMs?: number;
  /** How long an instance that failed a forward is left alone. */
  readonly backoffMs?: number;
  /** API key with the `internal` role, sent to the other instance (when keys are enforced). */
  readonly authKey?: string | undefined;
  /** PEM of the CA that signed the other instances' certificates (HTTPS between instances). */
  readonly ca?: Buffer | undefined;
  /**
   * The name the other instances' certificates must carry, checked instead of the host of their
   * URL: pods are reached by IP, which one shared certificate cannot name in advance.
   */
  readonly peerName?: string | undefined;
}

export const FORWARD_PATH = '/internal/v1/forward';
/** Asks the committing instance for a heartbeat while it commits (the value: its period in ms). */
export const HEARTBEAT_HEADER = 'x-seqd-heartbeat';
/** The heartbeat period asked for: four beats fit in the default silence. */
export const HEARTBEAT_MS = 250;

/**
 * Routes the commits of a series to ONE instance, so that two instances do not keep failing each
 * other's compare-and-swap on the same series (each conflict costs etcd a full raft round). The
 * choice is a hint, not a lock: the instance with the smallest node id among the live ones
 * commits; every commit is still decided by the store's compare-and-swap, and an instance that
 * cannot reach the chosen one, or that the chosen one answers as unable to reach the store,
 * commits itself for a while. A batch that was sent but not answered is reported
 * as unknown (it may have been committed), never committed a second time here.
 */
export class CommitForwarder {
  private chosen: PeerInstance | null = null;
  private readonly downUntil = new Map<string, number>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 });
  private readonly tlsAgent: HttpsAgent;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: CommitForwarderOptions) {
    const peerName = o.peerName;
    this.tlsAgent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 8,
      ...(o.ca ? { ca: o.ca } : {}),
      ...(peerName ? { checkServerIdentity: (_host: string, cert: Parameters<typeof checkServerIdentity>[1]) => checkServerIdentity(peerName, cert) } : {}),
    });
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.o.refreshMs ?? 1000);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.agent.destroy();
    this.tlsAgent.destroy();
  }

  /** The instance to send this series' batches to, or null to commit here. */
  targetFor(_series: string): PeerInstance | null {
    const c = this.chosen;
    if (!c || c.node === this.o.node) return null;
    return (this.downUntil.get(c.node) ?? 0) > Date.now() ? null : c;
  }

  async forward(target: PeerInstance, series: string, ops: readonly Op[]): Promise<ForwardedResult[]> {
    try {
      const body = await this.post(target, JSON.stringify({ series, ops }));
      const parsed = JSON.parse(body) as { results: { outcome: WireOutcome; committedAt: number }[] };
      if (parsed.results.length !== ops.length) throw new ForwardOutcomeUnknownError(`${target.node} answered ${parsed.results.length} outcomes for ${ops.length} ops`);
      const results = parsed.results.map((r) => ({ outcome: decodeOutcome(r.outcome), committedAt: r.committedAt }));
      // It answers but cannot reach the store (cut off from etcd while this instance is not):
      // commit here for a while; the store's compare-and-swap decides as always.
      if (results.some((r) => !r.outcome.ok && (r.outcome.error instanceof StoreUnavailableError || r.outcome.error instanceof OutcomeUnknownError))) {
        this.downUntil.set(target.node, Date.now() + (this.o.backoffMs ?? 3000));
      }
      return results;
    } catch (error) {
      this.downUntil.set(target.node, Date.now() + (this.o.backoffMs ?? 3000));
      if (error instanceof ForwardNotSentError || error instanceof ForwardOutcomeUnknownError) throw error;
      throw new ForwardOutcomeUnknownError(`forward to ${target.node}: ${String(error)}`, { cause: error });
    }
  }

  private async refresh(): Promise<void> {
    try {
      const peers = (await this.o.peers()).filter((p) => p.node && p.url);
      peers.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
      this.chosen = peers[0] ?? null;
    } catch {
      // The registry is unreachable (no quorum?): commit here; the store decides anyway.
      this.chosen = null;
    }
  }

  private post(target: PeerInstance, body: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const url = new URL(FORWARD_PATH, target.url);
      const tls = url.protocol === 'https:';
      const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [HEARTBEAT_HEADER]: HEARTBEAT_MS };
      if (this.o.authKey) headers.authorization = `Bearer ${this.o.authKey}`;
      const req = (tls ? httpsRequest : request)(
        url,
        {
          method: 'POST',
          agent: tls ? this.tlsAgent : this.agent,
          headers,
          // Until the answer begins; then the silence allowed between heartbeats (below). An
          // instance without heartbeats is silent until its outcomes: it gets the old 3 s.
          timeout: target.heartbeat === true ? (this.o.firstByteMs ?? 1500) : 3000,
        },
        (res) => {
          if (target.heartbeat === true) req.setTimeout(this.o.silenceMs ?? 1000);
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            const status = res.statusCode ?? 0;
            if (status === 200) resolve(text);
            // Refused before any op was submitted there (bad request, unknown route).
            else if (status >= 400 && status < 500) reject(new ForwardNotSentError(`${target.node} answered ${status}: ${text.slice(0, 200)}`));
            else reject(new ForwardOutcomeUnknownError(`${target.node} answered ${status}: ${text.slice(0, 200)}`));
          });
          res.on('error', reject);
          // Cut off after the heartbeat began (the committing instance died mid-commit).
          res.on('close', () => {
            if (!res.complete) reject(new ForwardOutcomeUnknownError(`${target.node} cut its answer off`));
          });
        },
      );
      // Until the connection (and its TLS handshake) is up, nothing of the request left this
      // machine: a failure then (refused, unreachable, a certificate not trusted, a connect
      // timeout) means not sent, and committing here is safe. A reused connection is up already.
      let connected = false;
      req.on('socket', (socket: Socket) => {
        if (socket.connecting) socket.once(tls ? 'secureConnect' : 'connect', () => (connected = true));
        else connected = true;
      });
      req.on('timeout', () => req.destroy(new ForwardOutcomeUnknownError(`${target.node} went silent`)));
      const overall = setTimeout(() => req.destroy(new ForwardOutcomeUnknownError(`${target.node} did not answer in time`)), target.heartbeat === true ? (this.o.timeoutMs ?? 6000) : 3000);
      req.once('close', () => clearTimeout(overall));
      req.on('error', (error: NodeJS.ErrnoException) => {
        reject(connected ? error : new ForwardNotSentError(`${target.node}: no connection (${error.message})`, { cause: error }));
      });
      req.end(body);
    });
  }
}
