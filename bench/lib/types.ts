/** One measured scenario: what the bench prints as a table row and writes as JSON. */
export interface Row {
  scenario: string;
  /** Load generator that measured it (`wrk`, `autocannon`, `pgbench`, `redis-benchmark`, `etcd3`). */
  tool: string;
  connections: number;
  requestsPerSec: number;
  numbersPerSec: number;
  latencyMs: { avg: number; p50: number; p99: number };
  /** Failed requests: connection errors, timeouts and non-2xx answers. */
  errors: number;
  /** Set on seqd rows: requests/s over the no-op route of the same run. */
  ratioToCeiling?: number | undefined;
  /**
   * Set on seqd rows: requests/s over the no-op route of the same seqd server(s), measured right
   * before this row with the same connections and seconds. On shared cores the machine's speed
   * drifts over minutes; a ratio of two measurements taken side by side drifts much less.
   */
  ratioToPairedCeiling?: number | undefined;
  /** The no-op route's requests/s of that paired measurement. */
  pairedCeilingRps?: number | undefined;
  note?: string | undefined;
}

/** A scenario that could not run here, and why. */
export interface Skipped {
  scenario: string;
  reason: string;
}

/** Prints a dot per second while a long step runs, so a run never looks stuck. */
export async function withProgress<T>(label: string, seconds: number, work: Promise<T>): Promise<T> {
  process.stdout.write(`… ${label} (${seconds} s) `);
  const timer = setInterval(() => process.stdout.write('.'), 1000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    process.stdout.write('\n');
  }
}

export const round2 = (x: number): number => Math.round(x * 100) / 100;
