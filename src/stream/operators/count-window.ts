import type { Aggregator } from './aggregator.js';
import type { Collector, KeyedOperatorCore } from './core.js';
import { requirePositiveInteger } from './validate.js';
import type { CountWindowResult } from './window-types.js';

interface OpenCountWindow<A> {
  readonly start: number;
  acc: A;
}

interface KeyCounts<A> {
  /** Records of this key seen so far: the next record's ordinal. */
  seen: number;
  lastTs: number;
  /** Windows that have started and not yet filled, oldest (smallest start) first. */
  readonly open: OpenCountWindow<A>[];
}

/**
 * Count windows per key. Window j of a key holds that key's records with ordinals
 * [j*slide, j*slide + size); it is emitted the moment its last record arrives, with that record's
 * ts. slide = size is tumbling; slide < size overlaps; slide > size skips the records in between.
 *
 * flush (end of input) emits every window that has started but not filled, flagged `partial`,
 * oldest first: a bounded stream then loses no record, and a consumer that wants only full windows
 * filters on the flag.
 */
export class CountWindowOperator<K, I, A, R> implements KeyedOperatorCore<K, I, CountWindowResult<K, R>> {
  readonly size: number;
  readonly slide: number;
  private readonly keys = new Map<K, KeyCounts<A>>();

  constructor(
    options: { size: number; slide?: number },
    private readonly aggregator: Aggregator<I, A, R>,
  ) {
    this.size = requirePositiveInteger('count window size', options.size);
    this.slide = options.slide === undefined ? this.size : requirePositiveInteger('count window slide', options.slide);
  }

  process(key: K, value: I, ts: number, out: Collector<CountWindowResult<K, R>>): void {
    let counts = this.keys.get(key);
    if (counts === undefined) {
      counts = { seen: 0, lastTs: ts, open: [] };
      this.keys.set(key, counts);
    }
    const ordinal = counts.seen++;
    counts.lastTs = ts;
    const open = counts.open;
    if (ordinal % this.slide === 0) open.push({ start: ordinal, acc: this.aggregator.createAccumulator() });
    for (let i = 0; i < open.length; i++) {
      const w = open[i]!;
      w.acc = this.aggregator.add(w.acc, value);
    }
    // Starts are distinct, so at most the oldest window can have just filled.
    if (open.length > 0 && open[0]!.start + this.size === ordinal + 1) {
      const full = open.shift()!;
      out.collect(this.result(key, full, ordinal + 1, false), ts);
    }
  }

  /** Count windows do not depend on time. */
  onWatermark(_watermark?: number, _out?: Collector<CountWindowResult<K, R>>): void {}

  flush(out: Collector<CountWindowResult<K, R>>): void {
    for (const [key, counts] of this.keys) {
      for (const w of counts.open) out.collect(this.result(key, w, counts.seen, true), counts.lastTs);
    }
    this.keys.clear();
  }

  private result(key: K, w: OpenCountWindow<A>, end: number, partial: boolean): CountWindowResult<K, R> {
    return { key, window: { start: w.start, end }, value: this.aggregator.getResult(w.acc), partial };
  }
}
