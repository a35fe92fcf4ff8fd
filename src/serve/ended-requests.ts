/** A request that has ended, remembered for a while (409 on its id; its results, for async ones). */
export interface Finished<O> {
  readonly id: string;
  readonly expiresAt: number;
  /** Async requests only (sync answers are not kept). */
  readonly outcome: O | undefined;
}

/**
 * Ended requests in the order they ended, at most `capacity` of them (the oldest go first), by id.
 * The order lives in a ring of its own, not in a Map's insertion order: V8 leaves a deleted Map
 * entry as a hole until it rehashes, and `keys().next()` walks every hole at the front, so
 * dropping the oldest that way cost ~38 µs per request once 100 k ids were kept (0.2-0.4 µs so).
 */
export class EndedRequests<O> {
  private readonly byId = new Map<string, Finished<O>>();
  /** Grows by doubling up to `capacity` (which may be far more than a server ever keeps). */
  private ring: (Finished<O> | undefined)[];
  /** Index of the oldest entry. */
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<Finished<O> | undefined>(Math.min(capacity, 1024));
  }

  get size(): number {
    return this.count;
  }

  get(id: string): Finished<O> | undefined {
    return this.byId.get(id);
  }

  /** Remembers `entry` as the newest; past capacity, forgets the oldest. */
  add(entry: Finished<O>): void {
    if (this.capacity === 0) return;
    if (this.count === this.capacity) this.dropOldest();
    else if (this.count === this.ring.length) this.grow();
    this.ring[(this.head + this.count) % this.ring.length] = entry;
    this.count++;
    this.byId.set(entry.id, entry);
  }

  /** Forgets the entries expired at `now` (they ended first, so they are the oldest). */
  dropExpired(now: number): void {
    while (this.count > 0 && this.ring[this.head]!.expiresAt <= now) this.dropOldest();
  }

  private dropOldest(): void {
    const oldest = this.ring[this.head]!;
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
    // The id may be remembered again since (a later request reused it after this one's window).
    if (this.byId.get(oldest.id) === oldest) this.byId.delete(oldest.id);
  }

  private grow(): void {
    const next = new Array<Finished<O> | undefined>(Math.min(this.capacity, this.ring.length * 2));
    for (let i = 0; i < this.count; i++) next[i] = this.ring[(this.head + i) % this.ring.length];
    this.ring = next;
    this.head = 0;
  }
}
