/**
 * A latency histogram in shared memory: any thread records with one Atomics.add, any thread
 * reads percentiles. Log-scaled buckets, 8 per doubling (about ±4.5% resolution), from 0.1 µs to
 * about 30 minutes; bucket 0 holds everything faster.
 *
 * ```
 *   word 0                  (unused)
 *   word 1 + b              count of bucket b:  [0.1 µs · 2^((b-1)/8), 0.1 µs · 2^(b/8))
 * ```
 */
const PER_DOUBLING = 8;
const BUCKETS = PER_DOUBLING * 34;
const UNIT_US = 0.1;
export const HISTOGRAM_WORDS = 1 + BUCKETS;

export class LatencyHistogram {
  private readonly words: Int32Array;
  private readonly base: number;

  /** A view of the histogram at word `base` of `words`. */
  constructor(words: Int32Array, base: number) {
    this.words = words;
    this.base = base;
  }

  record(micros: number): void {
    const scaled = micros / UNIT_US;
    let bucket = scaled < 1 ? 0 : 1 + Math.floor(Math.log2(scaled) * PER_DOUBLING);
    if (bucket >= BUCKETS) bucket = BUCKETS - 1;
    Atomics.add(this.words, this.base + 1 + bucket, 1);
  }

  get count(): number {
    let total = 0;
    for (let b = 0; b < BUCKETS; b++) total += Atomics.load(this.words, this.base + 1 + b) >>> 0;
    return total;
  }

  /** The p-th percentile (0 < p ≤ 100) in microseconds, or 0 with no samples. */
  percentile(p: number): number {
    const words = this.words;
    let total = 0;
    for (let b = 0; b < BUCKETS; b++) total += Atomics.load(words, this.base + 1 + b) >>> 0;
    if (total === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * total));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += Atomics.load(words, this.base + 1 + b) >>> 0;
      if (seen >= rank) return bucketMiddle(b);
    }
    return bucketMiddle(BUCKETS - 1);
  }

  reset(): void {
    for (let i = 0; i < HISTOGRAM_WORDS; i++) Atomics.store(this.words, this.base + i, 0);
  }
}

function bucketMiddle(bucket: number): number {
  if (bucket === 0) return UNIT_US / 2;
  const low = UNIT_US * 2 ** ((bucket - 1) / PER_DOUBLING);
  const high = UNIT_US * 2 ** (bucket / PER_DOUBLING);
  return Math.round(Math.sqrt(low * high) * 100) / 100;
}
