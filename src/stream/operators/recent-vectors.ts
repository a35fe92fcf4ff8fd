import type { VectorDType } from '../../codec/dtype.js';
import { FlatVectors } from './flat-vectors.js';
import { l2SimilarityFromSquared, squaredL2At, type SimilarityMetric, type VectorArray } from './vector-math.js';
import { requireFinite } from './validate.js';

/**
 * The last `capacity` vectors of a stream, with ids and timestamps, in a ring over flat storage:
 * a new vector overwrites the oldest, so memory is fixed at construction.
 */
export class RecentVectors<Id> {
  readonly store: FlatVectors;
  readonly times: Float64Array;
  private readonly ids: (Id | undefined)[];
  private next = 0;
  count = 0;

  constructor(dim: number, capacity: number, dtype: VectorDType) {
    this.store = new FlatVectors(dim, capacity, dtype);
    this.times = new Float64Array(capacity);
    this.ids = new Array<Id | undefined>(capacity);
  }

  /** Slot of the i-th oldest vector, i in [0, count). */
  slotAt(i: number): number {
    const capacity = this.store.capacity;
    return (this.next - this.count + i + capacity) % capacity;
  }

  idAt(slot: number): Id {
    return this.ids[slot] as Id;
  }

  push(vector: VectorArray, id: Id, ts: number): void {
    const slot = this.next;
    this.store.set(slot, vector);
    this.ids[slot] = id;
    this.times[slot] = ts;
    this.next = (slot + 1) % this.store.capacity;
    if (this.count < this.store.capacity) this.count++;
  }

  clear(): void {
    this.ids.fill(undefined); // let ids be collected
    this.next = 0;
    this.count = 0;
  }
}

/**
 * "similarity(query, stored) >= threshold", with the score. For 'l2' a bound on the squared
 * distance, widened a little so that float rounding in exp/log never rejects a pair the exact
 * test accepts, skips the sqrt and exp for clear misses.
 */
export class ThresholdMatcher {
  private readonly maxSquaredL2: number;

  constructor(
    readonly metric: SimilarityMetric,
    readonly threshold: number,
  ) {
    requireFinite('threshold', threshold);
    if (metric !== 'l2' || threshold <= 0) this.maxSquaredL2 = Infinity;
    else if (threshold > 1) this.maxSquaredL2 = -1; // l2 similarity is at most 1
    else {
      const distance = -10 * Math.log(threshold);
      const widened = distance * (1 + 1e-9) + 1e-9;
      this.maxSquaredL2 = widened * widened;
    }
  }

  /** The similarity of `query` to `slot` when it reaches the threshold, else NaN (no allocation). */
  match(store: FlatVectors, query: VectorArray, queryNorm: number, slot: number): number {
    let score: number;
    if (this.metric === 'l2') {
      const squared = squaredL2At(query, 0, store.data, slot * store.dim, store.dim);
      if (squared > this.maxSquaredL2) return NaN;
      score = l2SimilarityFromSquared(squared);
    } else {
      score = store.similarity(this.metric, query, queryNorm, slot);
    }
    return score >= this.threshold ? score : NaN;
  }
}
