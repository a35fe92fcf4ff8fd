import { InvalidArgumentError } from '../errors.js';
import { MAX_COUNT, checkCount, makeHandle, unpackHandle, wordsAt, type SyncHandle } from './memory.js';
import { blockUntil, untilAsync, wakeWaiters, type WaitSpec } from './wait.js';

// Layout (Int32 words):  [0] permits available   [1] waiters parked on the permits word
const PERMITS = 0;
const WAITERS = 1;

/**
 * A counting semaphore in shared memory: `acquire` takes a permit, waiting while none is free;
 * `release(n)` returns n permits. Zeroed memory is a semaphore with no permits.
 */
export class Semaphore {
  static readonly BYTES = 8;

  /** A new semaphore holding `initialCount` permits (a non-negative integer), in its own SharedArrayBuffer. */
  static create(initialCount: number): Semaphore {
    const permits = checkCount(initialCount, 0, 'Semaphore initialCount');
    const semaphore = new Semaphore(new SharedArrayBuffer(Semaphore.BYTES), 0);
    Atomics.store(semaphore.words, PERMITS, permits);
    return semaphore;
  }

  /**
   * The semaphore at `byteOffset` of `buffer` (4-aligned, BYTES long). Pass `initialCount` once,
   * from the thread that lays out the buffer, to set the permits; without it this only attaches.
   */
  static from(buffer: SharedArrayBuffer, byteOffset = 0, initialCount?: number): Semaphore {
    const permits = initialCount === undefined ? undefined : checkCount(initialCount, 0, 'Semaphore initialCount');
    const semaphore = new Semaphore(buffer, byteOffset);
    if (permits !== undefined) Atomics.store(semaphore.words, PERMITS, permits);
    return semaphore;
  }

  /** The semaphore behind a handle received from another thread. */
  static attach(handle: SyncHandle): Semaphore {
    const { buffer, byteOffset } = unpackHandle(handle, 'Semaphore.attach');
    return new Semaphore(buffer, byteOffset);
  }

  /** Pass this to another thread (postMessage / workerData) and `Semaphore.attach` it there. */
  readonly handle: SyncHandle;
  private readonly words: Int32Array;
  private readonly acquireWait: WaitSpec;
  private readonly acquireAsyncWait: WaitSpec;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.words = wordsAt(buffer, byteOffset, Semaphore.BYTES, 'Semaphore');
    this.handle = makeHandle(buffer, byteOffset);
    const wait = { words: this.words, signalIndex: PERMITS, waitersIndex: WAITERS, attempt: () => this.tryAcquire() };
    this.acquireWait = { ...wait, what: 'Semaphore.acquire' };
    this.acquireAsyncWait = { ...wait, what: 'Semaphore.acquireAsync' };
  }

  /** Takes a permit if one is free right now; never waits. */
  tryAcquire(): boolean {
    for (;;) {
      const permits = Atomics.load(this.words, PERMITS);
      if (permits <= 0) return false;
      if (Atomics.compareExchange(this.words, PERMITS, permits, permits - 1) === permits) return true;
    }
  }

  /** Blocks until a permit is taken (worker threads only). Throws TimeoutError after `timeoutMs`, BlockingOnMainThreadError on the main thread. */
  acquire(timeoutMs?: number): void {
    blockUntil(this.acquireWait, timeoutMs);
  }

  /** Resolves once a permit is taken, without blocking the thread; rejects with TimeoutError after `timeoutMs`. */
  acquireAsync(timeoutMs?: number): Promise<void> {
    return untilAsync(this.acquireAsyncWait, timeoutMs);
  }

  /** Returns `n` permits (a positive integer) and wakes up to `n` parked waiters. */
  release(n = 1): void {
    checkCount(n, 1, 'Semaphore.release n');
    for (;;) {
      const permits = Atomics.load(this.words, PERMITS);
      if (permits > MAX_COUNT - n) {
        throw new InvalidArgumentError(`Semaphore.release(${n}) would overflow the permit count (${permits} held, max ${MAX_COUNT})`);
      }
      if (Atomics.compareExchange(this.words, PERMITS, permits, permits + n) === permits) break;
    }
    wakeWaiters(this.words, PERMITS, WAITERS, n);
  }

  /** Permits free at this instant (a hint: it may change right after). */
  get available(): number {
    return Atomics.load(this.words, PERMITS);
  }
}
