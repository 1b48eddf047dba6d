import { isInternalSeries, parseSeriesName, periodEnded, type Rollover } from '../domain/series-strategy.js';

export interface RolloverCloserOptions {
  readonly rollover: Rollover;
  /** Names of every series (closed ones included). */
  readonly listSeries: () => Promise<readonly string[]>;
  /** Whether a series is closed already, as stored. */
  readonly isClosed: (series: string) => Promise<boolean>;
  /** Closes one series (idempotent: closing a closed series changes nothing). */
  readonly close: (series: string, reason: string) => Promise<{ closed: boolean; voided: number }>;
  /** A period's series are closed this long after it ended (clock skew between instances). */
  readonly graceMs: number;
  readonly now?: () => number;
  readonly intervalMs?: number;
  readonly onClosed?: (series: string, voided: number) => void;
  readonly onError?: (error: unknown) => void;
}

/**
 * Closes the series of periods that ended (plus a grace time): open gaps become void and a
 * `close` event records the final state. Every instance may run one: the close goes through the
 * normal commit (compare-and-swap) and closing a closed series writes nothing, so each series is
 * closed exactly once. Requests never wait for it: a new period's series is created by its first
 * request, at its start number.
 */
export class RolloverCloser {
  /** Series known closed: never looked at again. */
  private readonly closed = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<string[]> | null = null;
  private readonly now: () => number;

  constructor(private readonly o: RolloverCloserOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.tick().catch((error: unknown) => this.o.onError?.(error));
    }, this.o.intervalMs ?? 30_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass; answers the series this pass closed. Overlapping calls share one pass. */
  tick(): Promise<string[]> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<string[]> {
    const at = this.now() - this.o.graceMs;
    const closedNow: string[] = [];
    for (const name of await this.o.listSeries()) {
      if (this.closed.has(name) || isInternalSeries(name)) continue;
      const { period } = parseSeriesName(name);
      if (period === null || !periodEnded(this.o.rollover, period, at)) continue;
      if (!(await this.o.isClosed(name))) {
        const r = await this.o.close(name, `period ${period} ended`);
        if (r.closed) {
          closedNow.push(name);
          this.o.onClosed?.(name, r.voided);
        }
      }
      this.closed.add(name);
    }
    return closedNow;
  }
}
