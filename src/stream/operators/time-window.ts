import type { Aggregator } from './aggregator.js';
import type { Collector, KeyedOperatorCore } from './core.js';
import { TimerQueue } from './timer-queue.js';
import { timeSettings, type TimeSettings } from './time-domain.js';
import { requirePositiveFinite, requireTimestamp } from './validate.js';
import { LATE_OUTPUT, NO_WINDOWS, type LateRecord, type TimeDomain, type TimeWindowResult } from './window-types.js';

interface WindowState<K, A> {
  readonly key: K;
  readonly start: number;
  readonly end: number;
  acc: A;
  fired: boolean;
}

export interface SlidingTimeWindowOptions {
  sizeMs: number;
  /** Default `sizeMs` (tumbling). */
  slideMs?: number;
  on?: TimeDomain;
  allowedLatenessMs?: number;
}

/**
 * Tumbling (slide = size) and sliding time windows per key, aligned to time 0: window starts are
 * the multiples of `slideMs`, each covers [start, start + sizeMs).
 *
 * With watermark W (see watermark.ts): a window fires once, on time, when W >= end. Until
 * W >= end + allowedLatenessMs its state is kept, and a late record updates it and re-fires it at
 * once (`updated: true`). A record none of whose windows is still kept goes to LATE_OUTPUT; as in
 * Flink, a record that is too late for some of its sliding windows but not all only updates those
 * still kept, and is not side-output. With slide > size, a record in the gap between two windows
 * belongs to none and is dropped by definition (not late).
 *
 * Processing time: `ts` is arrival time, and one behind the last watermark (a clock step back) is
 * counted as arriving at the watermark, so no record is ever late.
 */
export class SlidingTimeWindowOperator<K, I, A, R> implements KeyedOperatorCore<K, I, TimeWindowResult<K, R>> {
  readonly sizeMs: number;
  readonly slideMs: number;
  private readonly time: TimeSettings;
  private readonly windows = new Map<K, Map<number, WindowState<K, A>>>();
  private readonly fireTimers = new TimerQueue<WindowState<K, A>>();
  private readonly cleanupTimers = new TimerQueue<WindowState<K, A>>();
  private watermark = -Infinity;

  constructor(
    options: SlidingTimeWindowOptions,
    private readonly aggregator: Aggregator<I, A, R>,
  ) {
    this.sizeMs = requirePositiveFinite('window size (ms)', options.sizeMs);
    this.slideMs = options.slideMs === undefined ? this.sizeMs : requirePositiveFinite('window slide (ms)', options.slideMs);
    this.time = timeSettings(options.on, options.allowedLatenessMs);
  }

  process(key: K, value: I, ts: number, out: Collector<TimeWindowResult<K, R>>): void {
    requireTimestamp(ts);
    if (this.time.processingTime && ts < this.watermark) ts = this.watermark;
    const lateness = this.time.allowedLatenessMs;
    // Windows are numbered by start / slide; computing starts from the number keeps every record
    // of a window on the exact same start, fractional slides included.
    const lastIndex = Math.floor(ts / this.slideMs);
    let windows = 0;
    let accepted = false;
    // Newest window first: ends decrease, so once one has expired all the rest have too.
    for (let index = lastIndex; ; index--) {
      const start = index * this.slideMs;
      if (start <= ts - this.sizeMs) break;
      windows++;
      const end = start + this.sizeMs;
      if (end + lateness <= this.watermark) break;
      accepted = true;
      const state = this.windowFor(key, start, end);
      state.acc = this.aggregator.add(state.acc, value);
      if (end <= this.watermark) this.fire(state, out);
    }
    // No window at all happens only with slide > size, in the gap between windows: by definition
    // such a record is counted nowhere, and it is not late.
    if (!accepted && windows > 0) {
      const late: LateRecord<K, I> = { key, value, ts, watermark: this.watermark };
      out.side(LATE_OUTPUT, late, ts);
    }
  }

  /** Keys holding window state (for metrics and tests: it drops to 0 once the watermark passes all windows plus lateness). */
  get activeKeys(): number {
    return this.windows.size;
  }

  onWatermark(watermark: number, out: Collector<TimeWindowResult<K, R>>): void {
    if (!(watermark > this.watermark)) return;
    this.watermark = watermark;
    let state: WindowState<K, A> | undefined;
    // Fire before cleanup: with zero lateness a window fires and expires at the same watermark.
    while ((state = this.fireTimers.poll(watermark)) !== undefined) this.fire(state, out);
    while ((state = this.cleanupTimers.poll(watermark)) !== undefined) this.drop(state);
  }

  /** End of input: as a final watermark of +Infinity (pending windows fire in end order), then no state. */
  flush(out: Collector<TimeWindowResult<K, R>>): void {
    let state: WindowState<K, A> | undefined;
    while ((state = this.fireTimers.poll(Infinity)) !== undefined) this.fire(state, out);
    this.fireTimers.clear();
    this.cleanupTimers.clear();
    this.windows.clear();
  }

  private windowFor(key: K, start: number, end: number): WindowState<K, A> {
    let byStart = this.windows.get(key);
    if (byStart === undefined) {
      byStart = new Map();
      this.windows.set(key, byStart);
    }
    let state = byStart.get(start);
    if (state === undefined) {
      state = { key, start, end, acc: this.aggregator.createAccumulator(), fired: false };
      byStart.set(start, state);
      // A window first seen after its end is fired by the caller straight away, not by a timer.
      if (end > this.watermark) this.fireTimers.schedule(end, state);
      this.cleanupTimers.schedule(end + this.time.allowedLatenessMs, state);
    }
    return state;
  }

  private fire(state: WindowState<K, A>, out: Collector<TimeWindowResult<K, R>>): void {
    const result: TimeWindowResult<K, R> = {
      key: state.key,
      window: { start: state.start, end: state.end },
      value: this.aggregator.getResult(state.acc),
      updated: state.fired,
      supersedes: NO_WINDOWS,
    };
    state.fired = true;
    out.collect(result, state.end - 1);
  }

  private drop(state: WindowState<K, A>): void {
    const byStart = this.windows.get(state.key);
    if (byStart === undefined) return;
    byStart.delete(state.start);
    if (byStart.size === 0) this.windows.delete(state.key);
  }
}
