/**
 * Values kept sorted by timestamp (equal timestamps in arrival order), dropped from the old end.
 * Records come mostly in time order, so an insert is usually an append; the dropped prefix is
 * compacted away only once it is half the array, so dropping is amortised O(1).
 */
export class TimeSortedBuffer<V> {
  private readonly times: number[] = [];
  private readonly values: V[] = [];
  /** Index of the first live entry. */
  private head = 0;

  get size(): number {
    return this.times.length - this.head;
  }

  /** First live index; live entries are [start, end). */
  get start(): number {
    return this.head;
  }

  get end(): number {
    return this.times.length;
  }

  tsAt(index: number): number {
    return this.times[index]!;
  }

  valueAt(index: number): V {
    return this.values[index]!;
  }

  /** Earliest live timestamp, or Infinity when empty. */
  earliest(): number {
    return this.head < this.times.length ? this.times[this.head]! : Infinity;
  }

  insert(ts: number, value: V): void {
    const times = this.times;
    const values = this.values;
    let i = times.length;
    times.push(ts);
    values.push(value);
    while (i > this.head && times[i - 1]! > ts) {
      times[i] = times[i - 1]!;
      values[i] = values[i - 1]!;
      i--;
    }
    times[i] = ts;
    values[i] = value;
  }

  /** Index of the first live entry with ts >= bound (end when none). */
  lowerBound(bound: number): number {
    let lo = this.head;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.times[mid]! < bound) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Drops every entry with ts < limit. */
  dropBefore(limit: number): void {
    const times = this.times;
    while (this.head < times.length && times[this.head]! < limit) {
      (this.values as (V | undefined)[])[this.head] = undefined; // let the value be collected
      this.head++;
    }
    if (this.head === times.length) {
      times.length = 0;
      this.values.length = 0;
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= times.length) {
      times.splice(0, this.head);
      this.values.splice(0, this.head);
      this.head = 0;
    }
  }
}
