import { EventEmitter } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * What happens to the bytes one node sends another:
 * - `pass`: delivered;
 * - `blackhole`: held back, as by a partition: the sender's connection stays open and stalls (its
 *   kernel buffers fill, nothing is refused), and what was held is delivered when the link heals,
 *   as TCP retransmission would, unless either end gave up on the connection first;
 * - `delay`: each chunk delivered `ms` after it arrived, in order;
 * - `reset`: live connections on the link are cut and new ones are reset at once.
 */
export type LinkRule = { readonly kind: 'pass' } | { readonly kind: 'blackhole' } | { readonly kind: 'delay'; readonly ms: number } | { readonly kind: 'reset' };

const PASS: LinkRule = { kind: 'pass' };

/**
 * A test network of named nodes joined by TCP proxies, with a rule per direction of each link
 * (`from → to`). Tests start one proxy per destination (and, when the caller's identity is not
 * in the bytes, per caller), point the nodes at the proxies, and change rules while load runs:
 * partitions, one-way links, slow members. No privileges needed.
 */
export class Network {
  private readonly rules = new Map<string, LinkRule>();
  private readonly changed = new EventEmitter();
  private readonly proxies: Proxy[] = [];

  constructor() {
    this.changed.setMaxListeners(0);
  }

  /** The rule of one direction. */
  rule(from: string, to: string): LinkRule {
    return this.rules.get(`${from}>${to}`) ?? PASS;
  }

  /** Sets the rule of `from → to` (one direction); `both` sets `to → from` as well. */
  set(from: string, to: string, rule: LinkRule, both = false): void {
    this.rules.set(`${from}>${to}`, rule);
    if (both) this.rules.set(`${to}>${from}`, rule);
    this.changed.emit('change');
  }

  /** Cuts `node` off from every node in `others`, both ways. */
  isolate(node: string, others: readonly string[], rule: LinkRule = { kind: 'blackhole' }): void {
    for (const o of others) this.set(node, o, rule, true);
  }

  /** Every link passes again; held bytes are delivered. */
  heal(): void {
    this.rules.clear();
    this.changed.emit('change');
  }

  /**
   * A proxy to `to` at `targetPort`: `from` names the caller, or `identify` finds it in the first
   * bytes a connection sends (null: unknown caller, whose links always pass). Listens on
   * `listenPort` (0: any free port).
   */
  async proxy(to: string, targetPort: number, options: { from?: string; identify?: (head: string) => string | null; listenPort?: number }): Promise<Proxy> {
    const p = new Proxy(this, to, targetPort, options.from ?? null, options.identify ?? null);
    await p.listen(options.listenPort ?? 0);
    this.proxies.push(p);
    return p;
  }

  onChange(listener: () => void): () => void {
    this.changed.on('change', listener);
    return () => this.changed.off('change', listener);
  }

  async close(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.close()));
  }
}

/** One listening proxy: every connection to it becomes a {@link Relay} from its caller to `to`. */
export class Proxy {
  private readonly server: Server = createServer();
  private readonly relays = new Set<Relay>();
  private target: number;

  constructor(
    readonly network: Network,
    readonly to: string,
    targetPort: number,
    private readonly from: string | null,
    private readonly identify: ((head: string) => string | null) | null,
  ) {
    this.target = targetPort;
    this.server.on('connection', (socket) => this.accept(socket));
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** New connections go to another port (a node restarted elsewhere). */
  retarget(port: number): void {
    this.target = port;
  }

  async close(): Promise<void> {
    for (const r of this.relays) r.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.from !== null || this.identify === null) return this.start(socket, this.from, Buffer.alloc(0));
    // The caller names itself in its first request (etcd peers: an `X-Server-From` header).
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const text = head.toString('latin1');
      if (!text.includes('\r\n\r\n') && head.length < 16_384) return;
      socket.off('data', onData);
      socket.pause();
      this.start(socket, this.identify?.(text) ?? null, head);
    };
    socket.on('data', onData);
  }

  private start(socket: Socket, from: string | null, head: Buffer): void {
    if (from !== null && this.network.rule(from, this.to).kind === 'reset') return void socket.resetAndDestroy();
    const relay = new Relay(this.network, from, this.to, socket, connect(this.target, '127.0.0.1'), head);
    this.relays.add(relay);
    relay.closed.then(() => this.relays.delete(relay), () => this.relays.delete(relay));
  }
}

/** Both directions of one proxied connection, each obeying its link's rule chunk by chunk. */
class Relay {
  readonly closed: Promise<void>;
  private readonly stopWatching: () => void;
  private done = false;

  constructor(
    network: Network,
    from: string | null,
    to: string,
    private readonly caller: Socket,
    private readonly callee: Socket,
    head: Buffer,
  ) {
    const up = new Direction(network, from, to, caller, callee, () => this.destroy());
    const down = new Direction(network, to, from, callee, caller, () => this.destroy());
    if (head.length > 0) up.push(head);
    caller.resume();
    this.stopWatching = network.onChange(() => {
      up.pump();
      down.pump();
    });
    this.closed = new Promise((resolve) => {
      let open = 2;
      const one = () => {
        if (--open === 0) resolve();
      };
      caller.once('close', one);
      callee.once('close', one);
    });
    callee.on('error', () => this.destroy());
    caller.on('error', () => this.destroy());
    // A connection closed by its ends stops watching the rules too (a soak opens thousands).
    void this.closed.then(() => this.destroy());
  }

  destroy(): void {
    if (this.done) return;
    this.done = true;
    this.stopWatching();
    this.caller.destroy();
    this.callee.destroy();
  }
}

/** One direction: chunks queue with their arrival time and leave as the rule allows. */
class Direction {
  private readonly queue: { chunk: Buffer; at: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(
    private readonly network: Network,
    private readonly from: string | null,
    private readonly to: string | null,
    private readonly source: Socket,
    private readonly sink: Socket,
    private readonly cut: () => void,
  ) {
    source.on('data', (chunk: Buffer) => this.push(chunk));
    source.on('end', () => {
      this.ended = true;
      this.pump();
    });
  }

  push(chunk: Buffer): void {
    this.queue.push({ chunk, at: Date.now() });
    this.pump();
  }

  pump(): void {
    if (this.timer) return;
    const rule = this.from === null || this.to === null ? PASS : this.network.rule(this.from, this.to);
    if (rule.kind === 'reset') return this.cut();
    // Held until the rule changes; the sender stalls as its buffers fill, as in a partition.
    if (rule.kind === 'blackhole') return void this.source.pause();
    this.source.resume();
    while (this.queue.length > 0) {
      const head = this.queue[0] as { chunk: Buffer; at: number };
      const due = rule.kind === 'delay' ? head.at + rule.ms : 0;
      const wait = due - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, wait);
        return;
      }
      this.queue.shift();
      if (!this.sink.destroyed) this.sink.write(head.chunk);
    }
    if (this.ended && !this.sink.destroyed) this.sink.end();
  }
}
