/**
 * A REFERENCE, not ringflow: the smallest correct SPSC ring of fixed 64-byte slots we could write,
 * to show in the same run what the machine allows for 64-byte frames and how much SharedRing's
 * generality (variable frames, multi-producer CAS, padding, zeroing, closed flag, heartbeat) costs.
 *
 * Slot = int32 sequence word + 4 spare bytes + 56 bytes of payload. The producer writes the payload
 * with plain stores, then publishes with one Atomics.store of the slot's sequence (position + 1),
 * then one Atomics.load of the consumer-waiting flag: two atomics per frame. The consumer checks
 * the sequence word, reads the payload, and publishes its head every 64 slots and before it waits.
 * Waiting: the consumer spins, then parks on the slot's word (Atomics.wait); the main-thread
 * producer parks on the head word with Atomics.waitAsync when the ring is full.
 */
const HEAD = 0; // int32 index; consumer's published position
const CONSUMER_WAITING = 32;
const PRODUCER_WAITING = 64;
const HEADER_BYTES = 512;
export const MINIMAL_SLOT_BYTES = 64;
export const MINIMAL_PAYLOAD_OFFSET = 8;

export class MinimalRing {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  readonly words: Int32Array;
  /** float64 view over the slots; slot s's payload starts at index (s * 8 + 1). */
  readonly f64: Float64Array;
  private readonly mask: number;
  private tail = 0;
  private cachedHead = 0;
  private head = 0;

  static create(slots: number): MinimalRing {
    return new MinimalRing(new SharedArrayBuffer(HEADER_BYTES + slots * MINIMAL_SLOT_BYTES));
  }

  static attach(buffer: SharedArrayBuffer): MinimalRing {
    return new MinimalRing(buffer);
  }

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.slots = (buffer.byteLength - HEADER_BYTES) / MINIMAL_SLOT_BYTES;
    if ((this.slots & (this.slots - 1)) !== 0) throw new RangeError('slots must be a power of two');
    this.mask = this.slots - 1;
    this.words = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer, HEADER_BYTES);
  }

  // ------------------------------------------------------------ producer (one thread)

  /** float64 index of the next slot's payload, or -1 when full. Fill it, then `publish()`. */
  tryClaim(): number {
    if (this.tail - this.cachedHead >= this.slots) {
      this.cachedHead = Atomics.load(this.words, HEAD);
      if (this.tail - this.cachedHead >= this.slots) return -1;
    }
    return (this.tail & this.mask) * 8 + 1;
  }

  publish(): void {
    const t = this.tail;
    Atomics.store(this.words, (HEADER_BYTES >> 2) + (t & this.mask) * 16, (t + 1) | 0);
    this.tail = t + 1;
    if (Atomics.load(this.words, CONSUMER_WAITING) !== 0) Atomics.notify(this.words, (HEADER_BYTES >> 2) + (t & this.mask) * 16);
  }

  /** Main thread: waits (without blocking) until there is room. */
  async room(): Promise<void> {
    const w = this.words;
    for (;;) {
      if (this.tryClaim() >= 0) return;
      Atomics.store(w, PRODUCER_WAITING, 1);
      const head = Atomics.load(w, HEAD);
      if (this.tail - head < this.slots) {
        Atomics.store(w, PRODUCER_WAITING, 0);
        continue;
      }
      const r = Atomics.waitAsync(w, HEAD, head, 1000);
      if (r.async) await r.value;
      Atomics.store(w, PRODUCER_WAITING, 0);
    }
  }

  // ------------------------------------------------------------ consumer (one thread)

  /** Hands every published slot (payload float64 index) to `handler`; returns how many. */
  drain(handler: (at: number) => void): number {
    const w = this.words;
    const base = HEADER_BYTES >> 2;
    let h = this.head;
    const start = h;
    for (;;) {
      const idx = h & this.mask;
      if (Atomics.load(w, base + idx * 16) !== ((h + 1) | 0)) break;
      handler(idx * 8 + 1);
      h++;
      if ((h & 63) === 0) this.release(h);
    }
    if (h !== start) this.release(h);
    this.head = h;
    return h - start;
  }

  private release(h: number): void {
    Atomics.store(this.words, HEAD, h | 0);
    if (Atomics.load(this.words, PRODUCER_WAITING) !== 0) Atomics.notify(this.words, HEAD);
  }

  /** Worker: spins `spins` checks, then parks until the next slot is published. */
  waitReadable(spins = 4096): void {
    const w = this.words;
    const at = (HEADER_BYTES >> 2) + (this.head & this.mask) * 16;
    const want = (this.head + 1) | 0;
    for (let i = 0; i < spins; i++) if (Atomics.load(w, at) === want) return;
    Atomics.store(w, CONSUMER_WAITING, 1);
    for (;;) {
      const seen = Atomics.load(w, at);
      if (seen === want) break;
      Atomics.wait(w, at, seen, 1000);
    }
    Atomics.store(w, CONSUMER_WAITING, 0);
  }
}
