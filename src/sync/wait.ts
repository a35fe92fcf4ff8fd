import { isMainThread, now } from '../platform/index.js';
import { BlockingOnMainThreadError, InvalidArgumentError, TimeoutError } from '../errors.js';
import { defaultWaitStrategy, type ParkingSpot, type WaitStrategy } from './wait-strategy.js';

/**
 * The waits of every primitive, on the pluggable wait strategies of wait-strategy.ts (which the
 * ring uses too): `blockUntil` parks with Atomics.wait (worker threads), `untilAsync` with
 * Atomics.waitAsync (any thread; the only one allowed on the main thread).
 *
 * The protocol between a waiter and a waker, which makes lost wake-ups impossible:
 * - waiter: count itself in the waiters word, read the wake word, try once, then park only while
 *   the wake word still holds the value it read;
 * - waker: change the state (and the wake word) first, then notify only if the waiters word is
 *   non-zero. Atomics are sequentially consistent, so either the waker sees the waiter counted, or
 *   the waiter's park sees the changed word (or its try sees the new state) and does not sleep.
 *
 * Timeouts (one rule for the whole module): a blocking or async wait that runs out of time throws
 * (or rejects with) `TimeoutError`; the `try*` methods never wait and return a boolean.
 */

/** What one wait is waiting for: where to park, and the try that ends the wait. */
export interface WaitSpec extends ParkingSpot {
  /** One non-blocking try; true ends the wait (for a lock it also means the lock is now held). */
  readonly attempt: () => boolean;
  /** Names the operation in errors, e.g. 'Mutex.lock'. */
  readonly what: string;
}

/** Checks an optional timeout in ms and returns it (`undefined` means wait forever). */
export function checkTimeout(timeoutMs: unknown, what: string): number {
  if (timeoutMs === undefined) return Infinity;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new InvalidArgumentError(`${what}: timeoutMs must be a non-negative number of ms or undefined, got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}

/** Refuses to block the main thread (Electron's UI thread must never stall). */
export function assertMayBlock(what: string): void {
  if (isMainThread) throw new BlockingOnMainThreadError(what);
}

/** The waker's half of the protocol: call after changing the wake word. */
export function wakeWaiters(words: Int32Array, wakeWord: number, waitersWord: number, count: number): void {
  if (Atomics.load(words, waitersWord) > 0) Atomics.notify(words, wakeWord, count);
}

/** Blocks the calling worker thread until `spec.attempt()` succeeds; throws TimeoutError at the deadline. */
export function blockUntil(spec: WaitSpec, timeoutMs?: number, strategy: WaitStrategy = defaultWaitStrategy): void {
  const limit = checkTimeout(timeoutMs, spec.what);
  assertMayBlock(spec.what);
  if (spec.attempt()) return;
  if (!strategy.wait(spec.attempt, spec, now() + limit)) {
    throw new TimeoutError(`${spec.what} timed out after ${limit} ms`);
  }
}

/** Resolves once `spec.attempt()` succeeds, never blocking the thread; rejects with TimeoutError at the deadline. */
export async function untilAsync(spec: WaitSpec, timeoutMs?: number, strategy: WaitStrategy = defaultWaitStrategy): Promise<void> {
  const limit = checkTimeout(timeoutMs, spec.what);
  if (spec.attempt()) return;
  if (!(await strategy.waitAsync(spec.attempt, spec, now() + limit))) {
    throw new TimeoutError(`${spec.what} timed out after ${limit} ms`);
  }
}
