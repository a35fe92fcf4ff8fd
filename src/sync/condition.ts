import { InvalidArgumentError } from '../errors.js';
import { makeHandle, unpackHandle, wordsAt, type SyncHandle } from './memory.js';
import { Mutex } from './mutex.js';
import { assertMayBlock, blockUntil, checkTimeout, untilAsync, wakeWaiters, type WaitSpec } from './wait.js';

// Layout (Int32 words):  [0] notify sequence, bumped by every notify   [1] waiters parked on it
const SEQUENCE = 0;
const WAITERS = 1;

/**
 * A condition variable in shared memory, used with a Mutex that guards the shared state.
 * As with POSIX condition variables, a wait may return without a matching notify (for instance when
 * a notifyOne wakes two waiters that raced), so always wait in a loop that re-checks the predicate:
 *
 *     mutex.lock();
 *     try { while (!ready()) cond.wait(mutex); use(); } finally { mutex.unlock(); }
 *
 * Every wait returns, or throws, with the mutex locked again, including on TimeoutError (as
 * pthread_cond_timedwait does), so the `finally { unlock }` above stays right.
 * Zeroed memory is a valid condition.
 */
export class Condition {
  static readonly BYTES = 8;

  /** A new condition in its own SharedArrayBuffer. */
  static create(): Condition {
    return new Condition(new SharedArrayBuffer(Condition.BYTES), 0);
  }

  /** The condition at `byteOffset` of `buffer` (4-aligned, BYTES long, zeroed before first use); no writes. */
  static from(buffer: SharedArrayBuffer, byteOffset = 0): Condition {
    return new Condition(buffer, byteOffset);
  }

  /** The condition behind a handle received from another thread. */
  static attach(handle: SyncHandle): Condition {
    const { buffer, byteOffset } = unpackHandle(handle, 'Condition.attach');
    return new Condition(buffer, byteOffset);
  }

  /** Pass this to another thread (postMessage / workerData) and `Condition.attach` it there. */
  readonly handle: SyncHandle;
  private readonly words: Int32Array;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.words = wordsAt(buffer, byteOffset, Condition.BYTES, 'Condition');
    this.handle = makeHandle(buffer, byteOffset);
  }

  /**
   * Unlocks `mutex` (which the caller holds), blocks until notified, then locks it again (worker
   * threads only). Throws TimeoutError after `timeoutMs` (mutex locked again), NotLockedError if
   * the mutex was not locked, BlockingOnMainThreadError on the main thread.
   */
  wait(mutex: Mutex, timeoutMs?: number): void {
    const what = 'Condition.wait';
    checkTimeout(timeoutMs, what);
    assertMayBlock(what);
    const spec = this.notifiedSince(this.releaseForWait(mutex, what), what);
    try {
      blockUntil(spec, timeoutMs);
    } finally {
      mutex.lock();
    }
  }

  /** As `wait`, without blocking the thread: unlocks, awaits a notify, then awaits the lock again. */
  async waitAsync(mutex: Mutex, timeoutMs?: number): Promise<void> {
    const what = 'Condition.waitAsync';
    checkTimeout(timeoutMs, what);
    const spec = this.notifiedSince(this.releaseForWait(mutex, what), what);
    try {
      await untilAsync(spec, timeoutMs);
    } finally {
      await mutex.lockAsync();
    }
  }

  /** Wakes at least one waiter, if there is any. */
  notifyOne(): void {
    this.notify(1);
  }

  /** Wakes every waiter. */
  notifyAll(): void {
    this.notify(Infinity);
  }

  private notify(count: number): void {
    // The bump comes first so a waiter that has released the mutex but not yet parked sees it.
    Atomics.add(this.words, SEQUENCE, 1);
    wakeWaiters(this.words, SEQUENCE, WAITERS, count);
  }

  /** Reads the sequence before unlocking, so a notify issued after the unlock is never missed. */
  private releaseForWait(mutex: Mutex, what: string): number {
    if (!(mutex instanceof Mutex)) throw new InvalidArgumentError(`${what}: mutex must be a Mutex`);
    const sequence = Atomics.load(this.words, SEQUENCE);
    mutex.unlock();
    return sequence;
  }

  private notifiedSince(sequence: number, what: string): WaitSpec {
    return {
      words: this.words,
      signalIndex: SEQUENCE,
      waitersIndex: WAITERS,
      attempt: () => Atomics.load(this.words, SEQUENCE) !== sequence,
      what,
    };
  }
}
