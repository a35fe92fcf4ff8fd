import { checkCount, makeHandle, unpackHandle, wordsAt, type SyncHandle } from './memory.js';
import { blockUntil, untilAsync, wakeWaiters, type WaitSpec } from './wait.js';

// Layout (Int32 words):  [0] count still to go   [1] waiters parked on the count word
const COUNT = 0;
const WAITERS = 1;

/**
 * A one-shot countdown (Java's CountDownLatch): `wait` returns once `countDown` has been called
 * `count` times; after that it stays open for good. With a count of 1 it is a one-shot event.
 * Counting down an open latch does nothing. Zeroed memory is an open latch.
 */
export class Latch {
  static readonly BYTES = 8;

  /** A new latch that opens after `count` (a non-negative integer, default 1) countDowns. */
  static create(count = 1): Latch {
    const start = checkCount(count, 0, 'Latch count');
    const latch = new Latch(new SharedArrayBuffer(Latch.BYTES), 0);
    Atomics.store(latch.words, COUNT, start);
    return latch;
  }

  /**
   * The latch at `byteOffset` of `buffer` (4-aligned, BYTES long). Pass `count` once, from the
   * thread that lays out the buffer, to arm it; without it this only attaches.
   */
  static from(buffer: SharedArrayBuffer, byteOffset = 0, count?: number): Latch {
    const start = count === undefined ? undefined : checkCount(count, 0, 'Latch count');
    const latch = new Latch(buffer, byteOffset);
    if (start !== undefined) Atomics.store(latch.words, COUNT, start);
    return latch;
  }

  /** The latch behind a handle received from another thread. */
  static attach(handle: SyncHandle): Latch {
    const { buffer, byteOffset } = unpackHandle(handle, 'Latch.attach');
    return new Latch(buffer, byteOffset);
  }

  /** Pass this to another thread (postMessage / workerData) and `Latch.attach` it there. */
  readonly handle: SyncHandle;
  private readonly words: Int32Array;
  private readonly openWait: WaitSpec;
  private readonly openAsyncWait: WaitSpec;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.words = wordsAt(buffer, byteOffset, Latch.BYTES, 'Latch');
    this.handle = makeHandle(buffer, byteOffset);
    // The count only falls, so parking on it cannot miss the drop to zero.
    const wait = { words: this.words, signalIndex: COUNT, waitersIndex: WAITERS, attempt: () => this.open };
    this.openWait = { ...wait, what: 'Latch.wait' };
    this.openAsyncWait = { ...wait, what: 'Latch.waitAsync' };
  }

  /** Counts one down; the last one releases every waiter. */
  countDown(): void {
    for (;;) {
      const count = Atomics.load(this.words, COUNT);
      if (count === 0) return;
      if (Atomics.compareExchange(this.words, COUNT, count, count - 1) !== count) continue;
      if (count === 1) wakeWaiters(this.words, COUNT, WAITERS, Infinity);
      return;
    }
  }

  /** Blocks until the latch is open (worker threads only). Throws TimeoutError after `timeoutMs`, BlockingOnMainThreadError on the main thread. */
  wait(timeoutMs?: number): void {
    blockUntil(this.openWait, timeoutMs);
  }

  /** Resolves once the latch is open, without blocking the thread; rejects with TimeoutError after `timeoutMs`. */
  waitAsync(timeoutMs?: number): Promise<void> {
    return untilAsync(this.openAsyncWait, timeoutMs);
  }

  /** CountDowns still needed to open (0 once open). */
  get count(): number {
    return Atomics.load(this.words, COUNT);
  }

  /** Whether the latch is open; never waits. */
  get open(): boolean {
    return Atomics.load(this.words, COUNT) === 0;
  }
}
