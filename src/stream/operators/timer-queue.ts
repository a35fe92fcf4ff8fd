interface Bucket<T> {
  items: T[];
  next: number;
}

/**
 * Items due at points in time, taken out earliest time first and, within one time, in the order
 * they were scheduled. Windows of many keys usually share their end times, so items are grouped
 * per distinct time: the heap holds times, a map holds each time's items.
 *
 * There is no cancel: callers re-check an item when it comes due and skip it if it is stale
 * (its window moved or was dropped), which keeps scheduling O(log times) and allocation-free for
 * an existing time.
 */
export class TimerQueue<T> {
  private readonly times: number[] = [];
  private readonly buckets = new Map<number, Bucket<T>>();

  get size(): number {
    return this.times.length;
  }

  schedule(time: number, item: T): void {
    const bucket = this.buckets.get(time);
    if (bucket !== undefined) {
      bucket.items.push(item);
      return;
    }
    this.buckets.set(time, { items: [item], next: 0 });
    this.pushTime(time);
  }

  /** The earliest scheduled time, or Infinity when empty. */
  peekTime(): number {
    return this.times.length === 0 ? Infinity : this.times[0]!;
  }

  /** Takes out the next item whose time is `<= limit` (or `< limit` when `strict`). */
  poll(limit: number, strict = false): T | undefined {
    while (this.times.length > 0) {
      const time = this.times[0]!;
      if (strict ? time >= limit : time > limit) return undefined;
      const bucket = this.buckets.get(time)!;
      if (bucket.next < bucket.items.length) return bucket.items[bucket.next++];
      this.buckets.delete(time);
      this.popTime();
    }
    return undefined;
  }

  clear(): void {
    this.times.length = 0;
    this.buckets.clear();
  }

  private pushTime(time: number): void {
    const heap = this.times;
    let i = heap.push(time) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]! <= time) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = time;
  }

  private popTime(): void {
    const heap = this.times;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]! < heap[left]! ? right : left;
      if (heap[child]! >= last) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
