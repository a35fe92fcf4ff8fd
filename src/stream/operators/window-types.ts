import { OutputTag } from './core.js';

/** A half-open range [start, end): milliseconds for time windows, record ordinals for count windows. */
export interface Window {
  readonly start: number;
  readonly end: number;
}

export interface WindowResult<K, R> {
  readonly key: K;
  readonly window: Window;
  readonly value: R;
}

/**
 * A count window's result. `partial` marks a window emitted by `flush` at end of input with fewer
 * than `size` records (then `window.end - window.start` is how many it got).
 */
export interface CountWindowResult<K, R> extends WindowResult<K, R> {
  readonly partial: boolean;
}

/**
 * A time window's result, emitted at `ts = window.end - 1` (the window's last millisecond, as Flink
 * does, so a downstream window puts it in the same window). Downstream should treat results as
 * upserts keyed by (key, window): the last one emitted for a window is its final value.
 */
export interface TimeWindowResult<K, R> extends WindowResult<K, R> {
  /** A result for this same key and window was emitted before; this one replaces it (late data). */
  readonly updated: boolean;
  /**
   * Session windows only: windows of this key emitted earlier that a late record merged into this
   * one. Their results are void. Empty otherwise.
   */
  readonly supersedes: readonly Window[];
}

/** What goes to the late side output: the record as it came in, and the watermark that rejected it. */
export interface LateRecord<K, I> {
  readonly key: K;
  readonly value: I;
  readonly ts: number;
  readonly watermark: number;
}

/** Side output of time windows and joins for records beyond the allowed lateness. */
export const LATE_OUTPUT = new OutputTag<LateRecord<unknown, unknown>>('late');

export const NO_WINDOWS: readonly Window[] = Object.freeze([]);

/** 'eventTime': `ts` is the record's own time, watermarks drive firing. 'processingTime': `ts` is arrival time, and the runtime calls onWatermark with the clock. */
export type TimeDomain = 'eventTime' | 'processingTime';

interface TimeWindowCommon {
  /** Default 'eventTime'. */
  on?: TimeDomain;
  /** Event time only: how long after a window fired it still accepts (and re-fires on) late records. Default 0. */
  allowedLatenessMs?: number;
}

export interface TumblingWindowSpec extends TimeWindowCommon {
  tumbling: number;
}

export interface SlidingWindowSpec extends TimeWindowCommon {
  sliding: number;
  slide: number;
}

export interface SessionWindowSpec extends TimeWindowCommon {
  /** A silence of this many ms or more closes a session. */
  session: number;
}

export interface CountWindowSpec {
  count: number;
  /** Records between window starts; default `count` (tumbling). */
  slide?: number;
}

export type TimeWindowSpec = TumblingWindowSpec | SlidingWindowSpec | SessionWindowSpec;
export type WindowSpec = TimeWindowSpec | CountWindowSpec;
