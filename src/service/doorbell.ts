/**
 * A doorbell for one consumer: it says "I am going to sleep" in a shared word, producers ring
 * only then — and only the first one rings: it takes the flag back with an exchange, so a burst
 * of writes to a sleeping consumer costs one Atomics.notify, not one per write.
 *
 * (The ring's own parking counts waiters and notifies on every commit while one is registered;
 * a waiter woken with Atomics.waitAsync stays registered until its event loop gets to it, and a
 * busy producer notifies thousands of times meanwhile. Callers and hosts park here instead, so
 * the ring's commit finds no waiter and only reads one word.)
 *
 * Protocol: the consumer stores 1, re-checks its condition, and waits while the word is 1; a
 * producer publishes first, then exchanges the word to 0 and notifies if it was 1. Either the
 * consumer's re-check sees the publication, or the producer sees the 1 (all accesses are
 * sequentially consistent atomics).
 */
export class Doorbell {
  /** Bytes a stand-alone doorbell needs (one cache line pair, to avoid false sharing). */
  static readonly BYTES = 128;
  private readonly words: Int32Array;
  private readonly index: number;

  /** A doorbell at word `index` of `words`. */
  constructor(words: Int32Array, index = 0) {
    this.words = words;
    this.index = index;
  }

  static create(): { bell: Doorbell; buffer: SharedArrayBuffer } {
    const buffer = new SharedArrayBuffer(Doorbell.BYTES);
    return { bell: new Doorbell(new Int32Array(buffer)), buffer };
  }

  /** Producer, after publishing: wakes the consumer if it sleeps (once per sleep). */
  ring(): void {
    const words = this.words;
    if (Atomics.load(words, this.index) !== 0 && Atomics.exchange(words, this.index, 0) !== 0) Atomics.notify(words, this.index);
  }

  /** Wakes the consumer whatever it waits for (closing, stopping). */
  wakeAlways(): void {
    Atomics.store(this.words, this.index, 0);
    Atomics.notify(this.words, this.index);
  }

  /** Consumer, blocking (worker threads, or the main thread where allowed): sleeps until rung, `ready()`, or `timeoutMs`. */
  sleep(ready: () => boolean, timeoutMs: number): void {
    const words = this.words;
    Atomics.store(words, this.index, 1);
    if (!ready()) Atomics.wait(words, this.index, 1, timeoutMs);
    Atomics.store(words, this.index, 0);
  }

  /** Consumer, without blocking the thread (Atomics.waitAsync). */
  async sleepAsync(ready: () => boolean, timeoutMs: number): Promise<void> {
    const words = this.words;
    Atomics.store(words, this.index, 1);
    if (!ready()) {
      const wait = Atomics.waitAsync(words, this.index, 1, timeoutMs);
      if (wait.async) await wait.value;
    }
    Atomics.store(words, this.index, 0);
  }
}
