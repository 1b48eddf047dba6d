/**
 * Throughput and latency over a sliding window, kept in one-second slots with log-scale latency
 * buckets: recording is O(1) and memory is fixed, whatever the load.
 */
const SLOT_COUNT = 300;
const BUCKETS = 160;
const BASE_US = 10;
const FACTOR = 1.12;
const LOG_FACTOR = Math.log(FACTOR);

interface Slot {
  second: number;
  requests: number;
  numbers: number;
  latencySumMs: number;
  buckets: Uint32Array;
}

export interface PerfSnapshot {
  readonly windowSeconds: number;
  readonly requests: number;
  readonly numbers: number;
  readonly requestsPerSecond: number;
  readonly numbersPerSecond: number;
  readonly latencyMs: { avg: number; p50: number; p95: number; p99: number; max: number };
}

export interface TimelinePoint {
  /** Epoch seconds. */
  readonly t: number;
  readonly requests: number;
  readonly numbers: number;
  readonly p99Ms: number;
}

export class PerfRecorder {
  private readonly slots: Slot[] = [];
  totalRequests = 0;
  totalNumbers = 0;

  constructor(private readonly now: () => number = Date.now) {
    for (let i = 0; i < SLOT_COUNT; i++) {
      this.slots.push({ second: -1, requests: 0, numbers: 0, latencySumMs: 0, buckets: new Uint32Array(BUCKETS) });
    }
  }

  record(latencyMs: number, numbers: number): void {
    const slot = this.slotFor(Math.floor(this.now() / 1000));
    slot.requests++;
    slot.numbers += numbers;
    slot.latencySumMs += latencyMs;
    const us = latencyMs * 1000;
    const i = us <= BASE_US ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(us / BASE_US) / LOG_FACTOR));
    slot.buckets[i] = (slot.buckets[i] ?? 0) + 1;
    this.totalRequests++;
    this.totalNumbers += numbers;
  }

  /** Figures over the last `windowSeconds` complete and current seconds. */
  snapshot(windowSeconds = 60): PerfSnapshot {
    const nowS = Math.floor(this.now() / 1000);
    const merged = new Uint32Array(BUCKETS);
    let requests = 0;
    let numbers = 0;
    let sum = 0;
    for (const s of this.slots) {
      if (s.second < 0 || s.second <= nowS - windowSeconds || s.second > nowS) continue;
      requests += s.requests;
      numbers += s.numbers;
      sum += s.latencySumMs;
      for (let i = 0; i < BUCKETS; i++) merged[i] = (merged[i] ?? 0) + (s.buckets[i] ?? 0);
    }
    const rate = (v: number) => round(v / windowSeconds);
    return {
      windowSeconds,
      requests,
      numbers,
      requestsPerSecond: rate(requests),
      numbersPerSecond: rate(numbers),
      latencyMs: {
        avg: requests ? round(sum / requests) : 0,
        p50: quantile(merged, requests, 0.5),
        p95: quantile(merged, requests, 0.95),
        p99: quantile(merged, requests, 0.99),
        max: quantile(merged, requests, 1),
      },
    };
  }

  /** Per-second points for the last `seconds` seconds (oldest first), for charts. */
  timeline(seconds = 120): TimelinePoint[] {
    const nowS = Math.floor(this.now() / 1000);
    const points: TimelinePoint[] = [];
    for (let t = nowS - seconds + 1; t <= nowS; t++) {
      const s = this.slots[t % SLOT_COUNT];
      const live = s !== undefined && s.second === t;
      points.push({
        t,
        requests: live ? s.requests : 0,
        numbers: live ? s.numbers : 0,
        p99Ms: live ? quantile(s.buckets, s.requests, 0.99) : 0,
      });
    }
    return points;
  }

  private slotFor(second: number): Slot {
    const slot = this.slots[second % SLOT_COUNT] as Slot;
    if (slot.second !== second) {
      slot.second = second;
      slot.requests = 0;
      slot.numbers = 0;
      slot.latencySumMs = 0;
      slot.buckets.fill(0);
    }
    return slot;
  }
}

/** Upper bound (ms) of the bucket holding quantile q. */
function quantile(buckets: Uint32Array, total: number, q: number): number {
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil(total * q));
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i] ?? 0;
    if (seen >= rank) return round((BASE_US * FACTOR ** i) / 1000);
  }
  return round((BASE_US * FACTOR ** (buckets.length - 1)) / 1000);
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
