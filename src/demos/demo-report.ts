import type { SequenceService } from '../service/sequence-service.js';

export interface DemoStep {
  readonly step: number;
  readonly title: string;
  readonly detail: Record<string, unknown>;
}

export interface DemoCheck {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

/** What every demo endpoint answers: parameters, the steps taken, and a verification section. */
export interface DemoReport {
  readonly demo: string;
  readonly description: string;
  readonly parameters: Record<string, unknown>;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly steps: DemoStep[];
  readonly summary: Record<string, unknown>;
  readonly verification: { readonly passed: boolean; readonly checks: DemoCheck[] };
}

export type ProgressFn = (done: number, total: number) => void;

/** A number a demo received, with its series (series may be split by site, partition or type). */
export interface IssuedNumber {
  readonly series: string;
  readonly number: number;
}

/** How a demo names a number: `42`, or `site-1#42` when the demo touched several series. */
function labeller(issued: readonly IssuedNumber[]): (x: IssuedNumber) => string {
  const one = new Set(issued.map((x) => x.series)).size <= 1;
  return (x) => (one ? String(x.number) : `${x.series}#${x.number}`);
}

/** Collects steps and checks while a demo runs. */
export class DemoRecorder {
  private readonly t0 = performance.now();
  private readonly started = new Date();
  readonly steps: DemoStep[] = [];
  readonly checks: DemoCheck[] = [];

  constructor(
    readonly demo: string,
    readonly description: string,
    readonly parameters: Record<string, unknown>,
  ) {}

  step(title: string, detail: Record<string, unknown>): void {
    this.steps.push({ step: this.steps.length + 1, title, detail });
  }

  check(name: string, passed: boolean, detail: string): void {
    this.checks.push({ name, passed, detail });
  }

  /**
   * The checks every demo ends with: no number was handed out twice (except one released in
   * between, listed in `released`), and the audit trail verifies.
   */
  async verifyCommon(service: SequenceService, numbers: readonly IssuedNumber[], releasedNumbers: readonly IssuedNumber[] = []): Promise<void> {
    const label = labeller([...numbers, ...releasedNumbers]);
    const released = new Set(releasedNumbers.map(label));
    const seen = new Set<string>();
    const twice: string[] = [];
    for (const x of numbers) {
      const n = label(x);
      if (seen.has(n) && !released.has(n)) twice.push(n);
      seen.add(n);
    }
    this.check(
      'no duplicate numbers',
      twice.length === 0,
      twice.length === 0
        ? `${numbers.length} numbers received, ${seen.size} distinct${released.size ? `; re-issued only after release: ${[...released].join(', ')}` : ''}`
        : `handed out twice without a release: ${twice.slice(0, 10).join(', ')}`,
    );
    const report = await service.verifyAll();
    this.check(
      'audit chain and continuity',
      report.valid,
      report.valid
        ? `${report.eventsChecked} events verified; every number from ${report.continuity.start} to ${report.continuity.highWaterMark} is held, an open gap or void`
        : `verification failed: ${report.continuity.problem ?? report.derived.problems[0] ?? 'unknown problem'}`,
    );
  }

  finish(summary: Record<string, unknown>): DemoReport {
    return {
      demo: this.demo,
      description: this.description,
      parameters: this.parameters,
      startedAt: this.started.toISOString(),
      durationMs: Math.round(performance.now() - this.t0),
      steps: this.steps,
      summary,
      verification: { passed: this.checks.every((c) => c.passed), checks: this.checks },
    };
  }
}

/** Exact percentile of sorted latencies (ms), rounded to µs. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))] ?? 0;
  return Math.round(v * 1000) / 1000;
}
