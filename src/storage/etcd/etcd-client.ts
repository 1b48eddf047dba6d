import { readFileSync } from 'node:fs';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, noop, wrap } from 'cockatiel';
import {
  Etcd3,
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCInternalError,
  GRPCUnavailableError,
  GRPCUnknownError,
  type IOptions,
} from 'etcd3';
import { EtcdCallDeadline } from './etcd-call-deadline.js';
import { EtcdLeaderRoute, RECOVERY_CALL_MS } from './etcd-leader-route.js';

/** The part of an etcd key-value pair seqd reads. Revisions stay strings (they exceed 2^53 in theory). */
export interface Kv {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly create_revision: string;
  readonly mod_revision: string;
  /** Writes to the key since it was created (1 after the first). */
  readonly version: string;
  /** Lease the key lives under ('0': none). */
  readonly lease?: string;
}

export interface RangeReq {
  readonly key: Buffer;
  readonly range_end?: Buffer;
  readonly limit?: number;
  // No sort options on purpose: ranges come back ascending by key, and any sort makes etcd fetch
  // the whole range before applying the limit.
  readonly keys_only?: boolean;
  /** Read as of this revision (a snapshot); absent: the latest. */
  readonly revision?: string;
}

export interface RangeRes {
  readonly kvs: Kv[];
  readonly more: boolean;
  readonly header: { readonly revision: string };
}

export interface Compare {
  readonly key: Buffer;
  readonly target: 'Mod' | 'Create' | 'Version' | 'Value';
  readonly result: 'Equal' | 'NotEqual' | 'Greater' | 'Less';
  readonly mod_revision?: string;
  readonly create_revision?: string;
  readonly version?: string;
  readonly value?: Buffer;
}

export type RequestOp =
  | { readonly request_put: { readonly key: Buffer; readonly value: Buffer; readonly lease?: string } }
  | { readonly request_delete_range: { readonly key: Buffer; readonly range_end?: Buffer } }
  | { readonly request_range: RangeReq };

export interface TxnReq {
  readonly compare: Compare[];
  readonly success: RequestOp[];
  readonly failure: RequestOp[];
}

export interface TxnRes {
  readonly succeeded: boolean;
  readonly header: { readonly revision: string };
  readonly responses: { readonly response_range?: RangeRes }[];
}

export interface MemberStatus {
  readonly endpoint: string;
  readonly reachable: boolean;
  readonly memberId?: string;
  readonly leaderId?: string;
  readonly isLeader?: boolean;
  readonly raftTerm?: string;
  readonly raftIndex?: string;
  readonly dbSizeBytes?: number;
  readonly version?: string;
  readonly error?: string;
}

/** One try of a call that seqd retries itself. */
export interface CallRetry {
  /** Epoch ms the caller gives up at: a longer deadline (see EtcdCallDeadline) never runs past it. */
  readonly until: number;
}

/** The calls of the etcd3 client seqd uses, so the rest of the code never sees the full client. */
export interface EtcdKvClient {
  /** `retry`: the caller's own retry budget, which bounds the call's deadline. */
  txn(req: TxnReq, retry?: CallRetry): Promise<TxnRes>;
  range(req: RangeReq, retry?: CallRetry): Promise<RangeRes>;
  /** Status of every endpoint, each asked directly (display only). */
  memberStatus(deadlineMs?: number): Promise<MemberStatus[]>;
  /**
   * Keeps `key` alive under a lease of `ttlSeconds` (re-granted when lost) until the returned
   * function is called. Display only: nothing safety-related may depend on a lease.
   */
  keepAlive(key: string, value: string, ttlSeconds: number): () => Promise<void>;
  /** A lease that is never kept alive: keys put under it vanish after `ttlSeconds`. Returns its id. */
  grantLease(ttlSeconds: number): Promise<string>;
  /** Calls (txn, range) that ran into their deadline since start: a member gone silent shows here. */
  callsRanOut(): number;
  close(): void;
}

export interface EtcdConnectionOptions {
  readonly endpoints: readonly string[];
  /** Deadline of every single call; a call past it fails and is retried by seqd's own policy. */
  readonly requestTimeoutMs: number;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** File paths of the CA and client certificate/key for TLS. */
  readonly tls?: { readonly ca?: string | undefined; readonly cert?: string | undefined; readonly key?: string | undefined } | undefined;
  /** Send transactions to the member that leads (see EtcdLeaderRoute); false: spread over all. */
  readonly routeToLeader?: boolean | undefined;
  /** Keepalive ping interval while calls are open (6 s; tests shorten it to see the policy). */
  readonly keepaliveMs?: number | undefined;
}

/** A call that ran out of its deadline (the next try of it gets a longer one). */
export function isEtcdDeadlineExceeded(error: unknown): boolean {
  return error instanceof GRPCDeadlineExceededError;
}

/** Errors after which a call may have reached etcd or may succeed on another member. */
export function isTransientEtcdError(error: unknown): boolean {
  return (
    error instanceof GRPCUnavailableError ||
    error instanceof GRPCDeadlineExceededError ||
    error instanceof GRPCInternalError ||
    error instanceof GRPCUnknownError ||
    error instanceof GRPCCancelledError
  );
}

function clientOptions(o: EtcdConnectionOptions, hosts: string[], pace: EtcdCallDeadline): IOptions {
  const options: IOptions = {
    hosts,
    // The client's default re-sends transactions by itself (3 attempts) and parks a member for
    // 5 s after 3 failures. seqd resolves every failed commit itself (re-sending the same
    // compare-and-swap), so: no global retries, and a breaker that lets a member back in 200 ms.
    faultHandling: {
      global: noop,
      // A member that let a call run into its deadline (paused, overloaded, cut off) is skipped
      // for a second at once: each further try on it would cost another full deadline.
      host: () =>
        wrap(
          circuitBreaker(handleWhen((e) => e instanceof GRPCDeadlineExceededError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(1) }),
          circuitBreaker(handleWhen(isTransientEtcdError), { halfOpenAfter: 200, breaker: new ConsecutiveBreaker(5) }),
        ),
    },
    defaultCallOptions: () => ({ deadline: Date.now() + pace.timeoutMs() }),
    grpcOptions: {
      // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time), and any ping
      // on a connection without an open call (it counts them against a 2-hour minimum): a
      // client that pinged its idle connections was cut off after about 24 s of quiet.
      'grpc.keepalive_time_ms': o.keepaliveMs ?? 6000,
      'grpc.keepalive_timeout_ms': 2000,
      'grpc.keepalive_permit_without_calls': 0,
      // Audit pages and gap chunks can exceed gRPC's 4 MiB default reply size.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    },
  };
  if (o.username !== undefined && o.password !== undefined) {
    options.auth = { username: o.username, password: o.password };
  }
  if (o.tls?.ca) {
    options.credentials = {
      rootCertificate: readFileSync(o.tls.ca),
      ...(o.tls.key ? { privateKey: readFileSync(o.tls.key) } : {}),
      ...(o.tls.cert ? { certChain: readFileSync(o.tls.cert) } : {}),
    };
  }
  return options;
}

export function connectEtcd(o: EtcdConnectionOptions): EtcdKvClient {
  const hosts = o.endpoints.map((e) => e.replace(/^https?:\/\//, ''));
  // Patience: longer than an election and a client's move to the new leader (about 1–1.5 s).
  const pace = new EtcdCallDeadline(o.requestTimeoutMs, 4 * o.requestTimeoutMs, 2000);
  const client = new Etcd3(clientOptions(o, hosts, pace));
  const fixed = new EtcdCallDeadline(o.requestTimeoutMs, o.requestTimeoutMs, Infinity);
  const perMember = hosts.map((h) => ({ endpoint: h, client: new Etcd3({ ...clientOptions(o, [h], fixed), faultHandling: { global: noop, host: () => noop } }) }));
  const memberStatus = (deadlineMs?: number) =>
    Promise.all(
      perMember.map(async ({ endpoint, client: c }): Promise<MemberStatus> => {
        try {
          const s = await c.maintenance.status(deadlineMs === undefined ? undefined : { deadline: Date.now() + deadlineMs });
          return {
            endpoint,
            reachable: true,
            memberId: s.header.member_id,
            leaderId: s.leader,
            isLeader: s.leader === s.header.member_id,
            raftTerm: s.raftTerm,
            raftIndex: s.raftIndex,
            dbSizeBytes: Number(s.dbSize),
            version: s.version,
          };
        } catch (error) {
          return { endpoint, reachable: false, error: (error as Error).message };
        }
      }),
    );
  const route = o.routeToLeader && perMember.length > 1 ? new EtcdLeaderRoute(memberStatus) : null;
  let ranOut = 0;
  let nextMember = 0;
  const paced = async <T>(retry: CallRetry | undefined, call: (options: { deadline: number }) => Promise<T>, capMs = Infinity): Promise<T> => {
    const started = Date.now();
    const timeout = Math.min(pace.timeoutMs(), capMs);
    // A longer deadline never runs past the caller's retry budget (fail closed on time).
    const deadline = retry ? Math.min(started + timeout, Math.max(retry.until, started + Math.min(pace.baseMs, capMs))) : started + timeout;
    try {
      const result = await call({ deadline });
      pace.answered(Date.now() - started);
      return result;
    } catch (error) {
      if (isEtcdDeadlineExceeded(error)) {
        ranOut++;
        pace.ranOut(deadline - started, Date.now());
      }
      throw error;
    }
  };
  return {
    txn: (req, retry) => {
      const txnVia = (via: Etcd3, capMs?: number) => paced(retry, (options) => via.kv.txn(req as never, options) as unknown as Promise<TxnRes>, capMs);
      const leader = route?.current() ?? null;
      if (leader === null && route?.recovering()) {
        // No member known to lead since the leader failed: round the other members, short deadlines.
        const avoided = route.avoided();
        const others = perMember.filter((_, i) => i !== avoided);
        const m = others[nextMember++ % others.length];
        const capMs = Math.max(RECOVERY_CALL_MS, 2 * pace.recentMs());
        if (m) return txnVia(m.client, capMs);
      }
      const via = (leader === null ? undefined : perMember[leader.member]?.client) ?? client;
      return txnVia(via).catch((error: unknown) => {
        if (leader !== null && isTransientEtcdError(error)) route?.failed(leader.member, leader.generation);
        throw error;
      });
    },
    range: (req, retry) => paced(retry, (options) => client.kv.range(req as never, options) as unknown as Promise<RangeRes>),
    callsRanOut: () => ranOut,
    grantLease: async (ttlSeconds) => (await client.leaseClient.leaseGrant({ TTL: ttlSeconds })).ID,
    memberStatus,
    keepAlive: (key, value, ttlSeconds) => {
      let stopped = false;
      let lease: ReturnType<Etcd3['lease']> | null = null;
      const grant = () => {
        if (stopped) return;
        lease = client.lease(ttlSeconds, { autoKeepAlive: true });
        lease.on('lost', () => setTimeout(grant, 1000).unref());
        lease.put(key).value(value).exec().catch(() => undefined);
      };
      grant();
      return async () => {
        stopped = true;
        await lease?.revoke().catch(() => undefined);
      };
    },
    close: () => {
      route?.stop();
      client.close();
      for (const m of perMember) m.client.close();
    },
  };
}
