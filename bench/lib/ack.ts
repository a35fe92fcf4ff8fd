/**
 * A shared progress counter: a consumer thread adds what it has processed, the main thread awaits
 * a target without blocking (Atomics.waitAsync). The consumer notifies only while the main thread
 * has announced that it waits, so counting costs one atomic add (and one load) per batch.
 *
 * Used as "the consumer's acknowledgement of all N" in throughput suites: the same mechanism for
 * the ring and for the postMessage baselines, so it is not a source of bias.
 */
// Int32 index 0 = byte 0; float64 index 8 = byte 64; Int32 index 32 = byte 128.
const COUNT = 0;
const CHECKSUM = 8;
const WAITING = 32;
const BYTES = 192;

export class AckCounter {
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly floats: Float64Array;

  static create(): AckCounter {
    return new AckCounter(new SharedArrayBuffer(BYTES));
  }

  static attach(buffer: SharedArrayBuffer): AckCounter {
    return new AckCounter(buffer);
  }

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.floats = new Float64Array(buffer);
  }

  /**
   * Consumer side: `n` more items done; `checksum` is the consumer's running checksum of all items
   * so far (published before the count, so whoever sees the count sees it).
   */
  add(n: number, checksum: number): void {
    this.floats[CHECKSUM] = checksum;
    Atomics.add(this.words, COUNT, n);
    if (Atomics.load(this.words, WAITING) !== 0) Atomics.notify(this.words, COUNT);
  }

  /** The consumer's running checksum as of the last count read. */
  get checksum(): number {
    return this.floats[CHECKSUM]!;
  }

  get count(): number {
    return Atomics.load(this.words, COUNT);
  }

  /** Main side, while the consumer is idle (everything sent so far was acknowledged). */
  reset(): void {
    Atomics.store(this.words, COUNT, 0);
  }

  /** Main side: resolves once the count reaches `target`; rejects after `timeoutMs` without progress. */
  async reach(target: number, timeoutMs = 30_000): Promise<void> {
    const words = this.words;
    let value = Atomics.load(words, COUNT);
    if (value >= target) return;
    Atomics.store(words, WAITING, 1);
    try {
      for (;;) {
        value = Atomics.load(words, COUNT);
        if (value >= target) return;
        const r = Atomics.waitAsync(words, COUNT, value, timeoutMs);
        const outcome = r.async ? await r.value : r.value;
        if (outcome === 'timed-out' && Atomics.load(words, COUNT) === value) {
          throw new Error(`consumer stalled at ${value} of ${target} acknowledged items for ${timeoutMs} ms`);
        }
      }
    } finally {
      Atomics.store(words, WAITING, 0);
    }
  }
}
