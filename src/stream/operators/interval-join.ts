import { InvalidArgumentError } from '../../errors.js';
import type { Collector, JoinSide, KeyedTwoInputOperatorCore } from './core.js';
import { TimeSortedBuffer } from './time-sorted-buffer.js';
import { TimerQueue } from './timer-queue.js';
import { requireFinite, requireTimestamp } from './validate.js';
import { LATE_OUTPUT } from './window-types.js';

export interface IntervalJoinOptions {
  /** A pair matches when lowerBoundMs <= right.ts - left.ts <= upperBoundMs (both inclusive). */
  lowerBoundMs: number;
  upperBoundMs: number;
}

export interface JoinedPair<K, L, R> {
  readonly key: K;
  readonly left: L;
  readonly right: R;
  readonly leftTs: number;
  readonly rightTs: number;
}

/** What a join sends to LATE_OUTPUT: the record, which side it came from, and the watermark that rejected it. */
export interface LateJoinRecord<K> {
  readonly side: JoinSide;
  readonly key: K;
  readonly value: unknown;
  readonly ts: number;
  readonly watermark: number;
}

/** One side's buffered records for one key, plus the time its next expiry check is scheduled. */
interface SideState<K> {
  readonly owner: KeyState<K>;
  readonly buffer: TimeSortedBuffer<unknown>;
  /** An entry at ts can match no future record once watermark > ts + reach. */
  readonly reach: number;
  scheduledAt: number;
}

interface KeyState<K> {
  readonly key: K;
  readonly left: SideState<K>;
  readonly right: SideState<K>;
}

/**
 * Interval join of two keyed streams (Flink's intervalJoin), chosen over a tumbling-window join
 * because a pair is emitted the moment its second record arrives, with no window boundary that
 * separates records a millisecond apart.
 *
 * Each record is matched against the other side's buffered records of the same key, and pairs are
 * emitted in the other side's time order (ties in arrival order), at ts = max(leftTs, rightTs).
 * Then it is buffered until the watermark shows no future record can match it: a left record at t
 * until watermark > t + upperBoundMs, a right one until watermark > t - lowerBoundMs. A record
 * with ts < watermark is late: it goes to LATE_OUTPUT (a LateJoinRecord) and is not joined, which
 * is what keeps state bounded by the watermark. There is nothing to emit at end of input, since
 * pairs are emitted eagerly; flush drops the state.
 */
export class IntervalJoinOperator<K, L, R> implements KeyedTwoInputOperatorCore<K, L, R, JoinedPair<K, L, R>> {
  readonly lowerBoundMs: number;
  readonly upperBoundMs: number;
  private readonly keys = new Map<K, KeyState<K>>();
  private readonly expiries = new TimerQueue<SideState<K>>();
  private watermark = -Infinity;

  constructor(options: IntervalJoinOptions) {
    this.lowerBoundMs = requireFinite('lowerBoundMs', options.lowerBoundMs);
    this.upperBoundMs = requireFinite('upperBoundMs', options.upperBoundMs);
    if (this.lowerBoundMs > this.upperBoundMs) {
      throw new InvalidArgumentError(`lowerBoundMs (${this.lowerBoundMs}) must not exceed upperBoundMs (${this.upperBoundMs})`);
    }
  }

  process(side: 'left', key: K, value: L, ts: number, out: Collector<JoinedPair<K, L, R>>): void;
  process(side: 'right', key: K, value: R, ts: number, out: Collector<JoinedPair<K, L, R>>): void;
  process(side: JoinSide, key: K, value: L | R, ts: number, out: Collector<JoinedPair<K, L, R>>): void;
  process(side: JoinSide, key: K, value: L | R, ts: number, out: Collector<JoinedPair<K, L, R>>): void {
    requireTimestamp(ts);
    if (side !== 'left' && side !== 'right') throw new InvalidArgumentError(`side must be 'left' or 'right', got ${String(side)}`);
    if (ts < this.watermark) {
      const late: LateJoinRecord<K> = { side, key, value, ts, watermark: this.watermark };
      out.side(LATE_OUTPUT, late, ts);
      return;
    }
    const state = this.keyState(key);
    const isLeft = side === 'left';
    const own = isLeft ? state.left : state.right;
    const other = isLeft ? state.right : state.left;
    // The other side's matching time range, from the bounds on right.ts - left.ts.
    const lo = isLeft ? ts + this.lowerBoundMs : ts - this.upperBoundMs;
    const hi = isLeft ? ts + this.upperBoundMs : ts - this.lowerBoundMs;
    const buffer = other.buffer;
    for (let i = buffer.lowerBound(lo); i < buffer.end && buffer.tsAt(i) <= hi; i++) {
      const otherTs = buffer.tsAt(i);
      const otherValue = buffer.valueAt(i);
      const pair: JoinedPair<K, L, R> = isLeft
        ? { key, left: value as L, right: otherValue as R, leftTs: ts, rightTs: otherTs }
        : { key, left: otherValue as L, right: value as R, leftTs: otherTs, rightTs: ts };
      out.collect(pair, Math.max(ts, otherTs));
    }
    // With a negative reach (the other side must be earlier by more than the lateness allows), no
    // future record can match this one: do not buffer it at all.
    if (ts + own.reach >= this.watermark) {
      own.buffer.insert(ts, value);
      this.scheduleExpiry(own);
    } else if (state.left.buffer.size === 0 && state.right.buffer.size === 0) {
      this.keys.delete(key);
    }
  }

  onWatermark(watermark: number, _out?: Collector<JoinedPair<K, L, R>>): void {
    if (!(watermark > this.watermark)) return;
    this.watermark = watermark;
    let side: SideState<K> | undefined;
    // Strict: an entry at ts + reach === watermark can still match a record at ts === watermark.
    while ((side = this.expiries.poll(watermark, true)) !== undefined) {
      if (side.scheduledAt > watermark) continue; // stale: rescheduled earlier and already handled
      side.scheduledAt = Infinity;
      side.buffer.dropBefore(watermark - side.reach);
      if (side.buffer.size > 0) this.scheduleExpiry(side);
      else {
        const owner = side.owner;
        if (owner.left.buffer.size === 0 && owner.right.buffer.size === 0) this.keys.delete(owner.key);
      }
    }
  }

  flush(_out?: Collector<JoinedPair<K, L, R>>): void {
    this.keys.clear();
    this.expiries.clear();
  }

  /** Keys with buffered records (for metrics and tests: state is bounded by the watermark). */
  get activeKeys(): number {
    return this.keys.size;
  }

  private keyState(key: K): KeyState<K> {
    let state = this.keys.get(key);
    if (state === undefined) {
      const s = { key } as { key: K; left: SideState<K>; right: SideState<K> };
      s.left = { owner: s, buffer: new TimeSortedBuffer(), reach: this.upperBoundMs, scheduledAt: Infinity };
      s.right = { owner: s, buffer: new TimeSortedBuffer(), reach: -this.lowerBoundMs, scheduledAt: Infinity };
      state = s;
      this.keys.set(key, state);
    }
    return state;
  }

  /** One pending check per side and key, at the expiry of its earliest entry. */
  private scheduleExpiry(side: SideState<K>): void {
    const due = side.buffer.earliest() + side.reach;
    if (due < side.scheduledAt) {
      side.scheduledAt = due;
      this.expiries.schedule(due, side);
    }
  }
}
