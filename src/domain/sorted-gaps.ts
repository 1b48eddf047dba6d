import type { OpenGap } from './types.js';

/**
 * Open gaps of one series during planning: ascending, lowest taken first. Taking moves a head
 * index instead of shifting the array, so a batch that refills many gaps stays linear.
 */
export class SortedGaps {
  private readonly items: OpenGap[];
  private head = 0;

  constructor(initial: readonly OpenGap[]) {
    this.items = initial.slice();
  }

  get size(): number {
    return this.items.length - this.head;
  }

  takeLowest(): OpenGap | undefined {
    if (this.head >= this.items.length) return undefined;
    return this.items[this.head++];
  }

  has(n: number): boolean {
    return this.get(n) !== undefined;
  }

  get(n: number): OpenGap | undefined {
    const gap = this.items[this.lowerBound(n)];
    return gap?.number === n ? gap : undefined;
  }

  insert(gap: OpenGap): void {
    this.items.splice(this.lowerBound(gap.number), 0, gap);
  }

  toArray(): OpenGap[] {
    return this.items.slice(this.head);
  }

  private lowerBound(n: number): number {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.items[mid]?.number ?? Infinity) < n) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Splits ascending numbers into runs of consecutive numbers, as [first, last] pairs. */
export function toRuns(sorted: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const n of sorted) {
    const last = runs[runs.length - 1];
    if (last && last[1] + 1 === n) last[1] = n;
    else runs.push([n, n]);
  }
  return runs;
}
