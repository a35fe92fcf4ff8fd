import { isMainThread } from 'node:worker_threads';
import { BlockingOnMainThreadError, InvalidArgumentError, TimeoutError } from '../errors.js';

/**
 * The spin-then-park wait every primitive uses, written once for both flavours:
 * `blockUntil` parks with Atomics.wait (worker threads), `untilAsync` with Atomics.waitAsync
 * (any thread; the only one allowed on the main thread).
 *
 * The protocol between a waiter and a waker, which makes lost wake-ups impossible:
 * - waiter: read the wake word, try once, count itself in the waiters word, then park only while
 *   the wake word still holds the value it read;
 * - waker: change the state (and the wake word) first, then notify only if the waiters word is
 *   non-zero. Atomics are sequentially consistent, so either the waker sees the waiter counted, or
 *   the waiter's park sees the changed word (or its try sees the new state) and does not sleep.
 *
 * Timeouts (one rule for the whole module): a blocking or async wait that runs out of time throws
 * (or rejects with) `TimeoutError`; the `try*` methods never wait and return a boolean.
 */

/** Tries before parking: enough to ride out a short critical section, too few to burn a core. */
export const SPIN_TRIES = 100;

/** What one wait is waiting for. */
export interface WaitSpec {
  readonly words: Int32Array;
  /** Index of the word a waker changes before notifying; parked waiters sleep on it. */
  readonly wakeWord: number;
  /** Index of the count of parked (or about to park) waiters; wakers notify only when it is non-zero. */
  readonly waitersWord: number;
  /** One non-blocking try; true ends the wait (for a lock it also means the lock is now held). */
  readonly attempt: () => boolean;
  /** Names the operation in errors, e.g. 'Mutex.lock'. */
  readonly what: string;
}

/** Longest delay a Node timer accepts; only used to keep the event loop alive, it never fires in practice. */
const MAX_TIMER_MS = 0x7fff_ffff;

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

/** One request to park: sleep while the wake word still equals `seen`, for at most `timeoutMs`. */
interface Park {
  readonly seen: number;
  readonly timeoutMs: number;
}

/**
 * The waiter's half of the protocol as a generator, so the blocking and async drivers share it:
 * it yields each time the driver must park, and returns once `attempt()` succeeds.
 */
function* waitSteps(spec: WaitSpec, timeoutMs: number): Generator<Park, void, void> {
  for (let i = 0; i < SPIN_TRIES; i++) {
    if (spec.attempt()) return;
  }
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const seen = Atomics.load(spec.words, spec.wakeWord);
    if (spec.attempt()) return;
    const left = deadline - performance.now();
    if (left <= 0) throw new TimeoutError(`${spec.what} timed out after ${timeoutMs} ms`);
    Atomics.add(spec.words, spec.waitersWord, 1);
    try {
      yield { seen, timeoutMs: left };
    } finally {
      Atomics.sub(spec.words, spec.waitersWord, 1);
    }
  }
}

/** Blocks the calling worker thread until `spec.attempt()` succeeds; throws TimeoutError at the deadline. */
export function blockUntil(spec: WaitSpec, timeoutMs?: number): void {
  const limit = checkTimeout(timeoutMs, spec.what);
  assertMayBlock(spec.what);
  if (spec.attempt()) return; // uncontended: no generator, no clock read
  for (const park of waitSteps(spec, limit)) {
    Atomics.wait(spec.words, spec.wakeWord, park.seen, park.timeoutMs);
  }
}

/**
 * Resolves once `spec.attempt()` succeeds, never blocking the thread; rejects with TimeoutError at
 * the deadline. A pending Atomics.waitAsync does not keep Node's event loop alive by itself, so a
 * timer is held while parked: otherwise a process whose only work is this wait would exit early.
 */
export async function untilAsync(spec: WaitSpec, timeoutMs?: number): Promise<void> {
  const limit = checkTimeout(timeoutMs, spec.what);
  if (spec.attempt()) return;
  for (const park of waitSteps(spec, limit)) {
    const result = Atomics.waitAsync(spec.words, spec.wakeWord, park.seen, park.timeoutMs);
    if (!result.async) continue;
    const keepAlive = setInterval(() => {}, MAX_TIMER_MS);
    try {
      await result.value;
    } finally {
      clearInterval(keepAlive);
    }
  }
}
