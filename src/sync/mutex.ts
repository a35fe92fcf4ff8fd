import { NotLockedError } from './errors.js';
import { makeHandle, unpackHandle, wordsAt, type SyncHandle } from './memory.js';
import { blockUntil, untilAsync, wakeWaiters, type WaitSpec } from './wait.js';

// Layout (Int32 words):  [0] state: 0 unlocked, 1 locked   [1] waiters parked on the state word
const STATE = 0;
const WAITERS = 1;
const UNLOCKED = 0;
const LOCKED = 1;

/**
 * A mutual-exclusion lock in shared memory, usable from any thread that can see the buffer.
 * Like a POSIX "normal" mutex it does not record its owner: any thread may unlock it, and locking
 * it twice from one thread deadlocks (or times out). Unlocking an unlocked mutex throws NotLockedError.
 * Zeroed memory is an unlocked mutex.
 */
export class Mutex {
  static readonly BYTES = 8;

  /** A new, unlocked mutex in its own SharedArrayBuffer. */
  static create(): Mutex {
    return new Mutex(new SharedArrayBuffer(Mutex.BYTES), 0);
  }

  /** The mutex at `byteOffset` of `buffer` (4-aligned, BYTES long, zeroed before first use); no writes. */
  static from(buffer: SharedArrayBuffer, byteOffset = 0): Mutex {
    return new Mutex(buffer, byteOffset);
  }

  /** The mutex behind a handle received from another thread. */
  static attach(handle: SyncHandle): Mutex {
    const { buffer, byteOffset } = unpackHandle(handle, 'Mutex.attach');
    return new Mutex(buffer, byteOffset);
  }

  /** Pass this to another thread (postMessage / workerData) and `Mutex.attach` it there. */
  readonly handle: SyncHandle;
  private readonly words: Int32Array;
  private readonly lockWait: WaitSpec;
  private readonly lockAsyncWait: WaitSpec;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.words = wordsAt(buffer, byteOffset, Mutex.BYTES, 'Mutex');
    this.handle = makeHandle(buffer, byteOffset);
    const wait = { words: this.words, signalIndex: STATE, waitersIndex: WAITERS, attempt: () => this.tryLock() };
    this.lockWait = { ...wait, what: 'Mutex.lock' };
    this.lockAsyncWait = { ...wait, what: 'Mutex.lockAsync' };
  }

  /** Takes the lock if it is free right now; never waits. */
  tryLock(): boolean {
    // Read before the CAS so spinning waiters do not keep stealing the cache line.
    return Atomics.load(this.words, STATE) === UNLOCKED && Atomics.compareExchange(this.words, STATE, UNLOCKED, LOCKED) === UNLOCKED;
  }

  /** Blocks until locked (worker threads only). Throws TimeoutError after `timeoutMs`, BlockingOnMainThreadError on the main thread. */
  lock(timeoutMs?: number): void {
    blockUntil(this.lockWait, timeoutMs);
  }

  /** Resolves once locked, without blocking the thread; rejects with TimeoutError after `timeoutMs`. */
  lockAsync(timeoutMs?: number): Promise<void> {
    return untilAsync(this.lockAsyncWait, timeoutMs);
  }

  /** Releases the lock and wakes one waiter, if any is parked. Throws NotLockedError if it was not locked. */
  unlock(): void {
    if (Atomics.exchange(this.words, STATE, UNLOCKED) === UNLOCKED) throw new NotLockedError();
    wakeWaiters(this.words, STATE, WAITERS, 1);
  }

  /** Whether some thread holds the lock at this instant (a hint: it may change right after). */
  get locked(): boolean {
    return Atomics.load(this.words, STATE) !== UNLOCKED;
  }
}
