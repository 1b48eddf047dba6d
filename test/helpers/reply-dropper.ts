import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of one seqd instance that can lose answers: with probability `dropRate`,
 * a chunk coming back from seqd is not passed on and both connections are cut. The request has
 * reached seqd (and usually committed) but the client never hears back: the "reply lost after
 * commit" fault. The target can be moved (an instance restarted on a new port).
 */
export class ReplyDropper {
  dropRate = 0;
  dropped = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private target: { host: string; port: number },
    private readonly random: () => number,
  ) {}

  static async start(targetUrl: string, random: () => number): Promise<ReplyDropper> {
    const server = createServer();
    const dropper = new ReplyDropper(server, hostPort(targetUrl), random);
    server.on('connection', (client) => dropper.relay(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return dropper;
  }

  get url(): string {
    const address = this.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return `http://127.0.0.1:${port}`;
  }

  /** Sends new connections to another instance address. */
  retarget(targetUrl: string): void {
    this.target = hostPort(targetUrl);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (this.dropRate > 0 && this.random() < this.dropRate) {
        this.dropped++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  }
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}
