import { InvalidArgumentError } from '../errors.js';
import { NegativeCounterError } from './errors.js';
import { MAX_COUNT, makeHandle, unpackHandle, wordsAt, type SyncHandle } from './memory.js';
import { blockUntil, untilAsync, wakeWaiters, type WaitSpec } from './wait.js';

// Layout (Int32 words):  [0] outstanding work   [1] generation, bumped each time the count reaches 0
//                        [2] waiters parked on the generation word
const COUNT = 0;
const GENERATION = 1;
const WAITERS = 2;

/**
 * Go's sync.WaitGroup in shared memory: `add(n)` announces work, `done()` finishes one unit, `wait`
 * returns once the count is zero. A wait is released by any return to zero after it starts, even
 * if new work is added right after, so the group can be reused. Zeroed memory is an empty group.
 */
export class WaitGroup {
  static readonly BYTES = 12;

  /** A new, empty group in its own SharedArrayBuffer. */
  static create(): WaitGroup {
    return new WaitGroup(new SharedArrayBuffer(WaitGroup.BYTES), 0);
  }

  /** The group at `byteOffset` of `buffer` (4-aligned, BYTES long, zeroed before first use); no writes. */
  static from(buffer: SharedArrayBuffer, byteOffset = 0): WaitGroup {
    return new WaitGroup(buffer, byteOffset);
  }

  /** The group behind a handle received from another thread. */
  static attach(handle: SyncHandle): WaitGroup {
    const { buffer, byteOffset } = unpackHandle(handle, 'WaitGroup.attach');
    return new WaitGroup(buffer, byteOffset);
  }

  /** Pass this to another thread (postMessage / workerData) and `WaitGroup.attach` it there. */
  readonly handle: SyncHandle;
  private readonly words: Int32Array;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.words = wordsAt(buffer, byteOffset, WaitGroup.BYTES, 'WaitGroup');
    this.handle = makeHandle(buffer, byteOffset);
  }

  /**
   * Adds `n` (an integer, may be negative) to the count; reaching zero releases every waiter.
   * Throws NegativeCounterError, leaving the count unchanged, if it would drop below zero.
   */
  add(n: number): void {
    if (typeof n !== 'number' || !Number.isInteger(n) || Math.abs(n) > MAX_COUNT) {
      throw new InvalidArgumentError(`WaitGroup.add n must be an integer in [-${MAX_COUNT}, ${MAX_COUNT}], got ${String(n)}`);
    }
    for (;;) {
      const count = Atomics.load(this.words, COUNT);
      const next = count + n;
      if (next < 0) throw new NegativeCounterError(`WaitGroup.add(${n}) would take the counter from ${count} below zero`);
      if (next > MAX_COUNT) throw new InvalidArgumentError(`WaitGroup.add(${n}) would overflow the counter (${count}, max ${MAX_COUNT})`);
      if (Atomics.compareExchange(this.words, COUNT, count, next) !== count) continue;
      if (next === 0 && count !== 0) {
        Atomics.add(this.words, GENERATION, 1);
        wakeWaiters(this.words, GENERATION, WAITERS, Infinity);
      }
      return;
    }
  }

  /** Finishes one unit of work: `add(-1)`. */
  done(): void {
    this.add(-1);
  }

  /** Blocks until the count is zero (worker threads only). Throws TimeoutError after `timeoutMs`, BlockingOnMainThreadError on the main thread. */
  wait(timeoutMs?: number): void {
    blockUntil(this.zeroSinceNow('WaitGroup.wait'), timeoutMs);
  }

  /** Resolves once the count is zero, without blocking the thread; rejects with TimeoutError after `timeoutMs`. */
  waitAsync(timeoutMs?: number): Promise<void> {
    return untilAsync(this.zeroSinceNow('WaitGroup.waitAsync'), timeoutMs);
  }

  /** Outstanding work at this instant (a hint: it may change right after). */
  get count(): number {
    return Atomics.load(this.words, COUNT);
  }

  private zeroSinceNow(what: string): WaitSpec {
    // Generation first: a zero reached after this read bumps it, even if work is re-added at once.
    const generation = Atomics.load(this.words, GENERATION);
    return {
      words: this.words,
      signalIndex: GENERATION,
      waitersIndex: WAITERS,
      attempt: () => Atomics.load(this.words, COUNT) === 0 || Atomics.load(this.words, GENERATION) !== generation,
      what,
    };
  }
}
