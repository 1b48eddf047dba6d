import type { NumberFormatter } from '../../domain/printed-text.js';
import type { SequenceStore } from '../../storage/sequence-store.js';

export type { NumberFormatter };

/** Allocation times kept: enough for the allocations a page of rows refers to. */
const KEPT = 10_000;

/**
 * The `formatted` column of the exports: a number formatted at the time of the allocation
 * (`issue` or `refill` event) that gave it out, so its year is the one its holder was shown (the
 * row's own time would be wrong for a number released or exported in a later year), with the
 * numbering in force then: after a recorded change of format (`seqd change-numbering`) it is
 * still the text the holder was shown.
 * Allocation times come from the events streamed past (`note`) or, for older ones, one read of
 * that event; a bounded cache keeps memory flat for any history.
 */
export class FormattedNumbers {
  private readonly times = new Map<number, number>();

  constructor(
    private readonly store: SequenceStore,
    private readonly series: string,
    private readonly format: NumberFormatter | null,
  ) {}

  /** Records the time of an allocation seen in the stream. */
  note(allocation: number, at: number): void {
    if (!this.format) return;
    this.times.set(allocation, at);
    if (this.times.size > KEPT) {
      const oldest = this.times.keys().next();
      if (!oldest.done) this.times.delete(oldest.value);
    }
  }

  /**
   * `first`..`last` as shown to the allocation (one number, or `A..B` for a range); null without
   * a format, numbers or a known allocation (0: a record from before allocations were tracked).
   */
  async of(first: number | null, last: number | null, allocation: number | null): Promise<string | null> {
    const format = this.format;
    if (!format || first === null || !allocation) return null;
    const at = await this.timeOf(allocation);
    if (at === null) return null;
    const head = format(first, at);
    if (last === null || last === first || head === null) return head;
    const tail = format(last, at);
    return tail === null ? null : `${head}..${tail}`;
  }

  private async timeOf(allocation: number): Promise<number | null> {
    const known = this.times.get(allocation);
    if (known !== undefined) return known;
    const [event] = await this.store.readEvents(this.series, allocation - 1, 1);
    if (!event || event.seq !== allocation) return null;
    this.note(allocation, event.ts);
    return event.ts;
  }
}
