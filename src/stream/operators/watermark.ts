import { InvalidArgumentError } from '../../errors.js';
import { requireNonNegativeFinite, requirePositiveInteger } from './validate.js';

// Watermark convention of every operator here: a watermark W asserts that no record with ts < W
// will arrive any more. A record with ts < W is late; a window [start, end) is complete, and fires,
// once W >= end.

/**
 * Bounded out-of-orderness: the watermark trails the largest event time seen by
 * `outOfOrdernessMs`, so records up to that much out of order are still on time.
 *
 * Runtime use: `if (tracker.observe(ts)) core.onWatermark(tracker.watermark, out)`.
 */
export class WatermarkTracker {
  readonly outOfOrdernessMs: number;
  private maxEventTime = -Infinity;

  constructor(outOfOrdernessMs = 0) {
    this.outOfOrdernessMs = requireNonNegativeFinite('outOfOrdernessMs', outOfOrdernessMs);
  }

  /** Notes a record's event time; true when the watermark moved forward. */
  observe(ts: number): boolean {
    if (ts <= this.maxEventTime) return false;
    this.maxEventTime = ts;
    return true;
  }

  /** `maxEventTimeSeen - outOfOrdernessMs`; -Infinity before the first record. */
  get watermark(): number {
    return this.maxEventTime - this.outOfOrdernessMs;
  }
}

/**
 * The watermark of an operator with several inputs (the two sides of a join, or several upstream
 * instances) is the smallest of theirs: time has advanced only as far as the slowest input.
 */
export class MinWatermark {
  private readonly inputs: Float64Array;
  private combined = -Infinity;

  constructor(inputCount: number) {
    this.inputs = new Float64Array(requirePositiveInteger('inputCount', inputCount)).fill(-Infinity);
  }

  /** Records input `index`'s watermark; true when the combined watermark moved forward. */
  update(index: number, watermark: number): boolean {
    if (!Number.isInteger(index) || index < 0 || index >= this.inputs.length) {
      throw new InvalidArgumentError(`input index must be an integer in [0, ${this.inputs.length}), got ${index}`);
    }
    if (watermark <= this.inputs[index]!) return false;
    this.inputs[index] = watermark;
    let min = Infinity;
    for (let i = 0; i < this.inputs.length; i++) min = Math.min(min, this.inputs[i]!);
    if (min <= this.combined) return false;
    this.combined = min;
    return true;
  }

  get watermark(): number {
    return this.combined;
  }
}
