/** Fixed-size ring of the most recent items: bounded memory on the hot path. */
export class RecentRing<T> {
  private readonly items: (T | undefined)[];
  private next = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first. */
  list(limit = this.capacity): T[] {
    const out: T[] = [];
    for (let i = 1; i <= this.capacity && out.length < limit; i++) {
      const item = this.items[(this.next - i + this.capacity) % this.capacity];
      if (item !== undefined) out.push(item);
    }
    return out;
  }
}
