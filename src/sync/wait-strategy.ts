import { isMainThread, now } from '../platform/index.js';
import { BlockingOnMainThreadError, InvalidArgumentError } from '../errors.js';
import { AdaptiveSpin } from './adaptive-spin.js';

/**
 * Where a waiter parks: a count of parked waiters and a signal word they sleep on. The side that
 * makes progress calls `wake(spot)`, which costs one atomic load when nobody is parked.
 */
export interface ParkingSpot {
  readonly words: Int32Array;
  readonly waitersIndex: number;
  readonly signalIndex: number;
  /**
   * Optional "a wake is already on its way" flag word: the first waker sets it and notifies,
   * later wakers see it set and skip the notify (a syscall) until a woken waiter clears it. This
   * matters when a waiter is slow to run after its wake-up (a main thread in Atomics.waitAsync
   * waits for its event loop) while producers keep committing.
   */
  readonly pendingIndex?: number;
  /** Called each time a waiter is about to park (the ring's consumer beats its heartbeat here). */
  readonly beforePark?: () => void;
  /** The waiter's adaptive spin state, kept here by the strategy (one per spot and flavour). */
  spinner?: AdaptiveSpin;
  asyncSpinner?: AdaptiveSpin;
}

/**
 * How a thread waits for a condition another thread will make true (the LMAX Disruptor's idea:
 * waiting is a policy, not part of the data structure). `deadline` is on platform's now()
 * clock (ms); Infinity waits forever. Both methods resolve to the final value of `ready()`.
 */
export interface WaitStrategy {
  /** Blocking; for worker threads. */
  wait(ready: () => boolean, spot: ParkingSpot, deadline: number): boolean;
  /** Never blocks the event loop; for the main thread (or any thread with work of its own). */
  waitAsync(ready: () => boolean, spot: ParkingSpot, deadline: number): Promise<boolean>;
}

/** Wakes whoever is parked on `spot`; free when nobody is, and once per park with a pending flag. */
export function wake(spot: ParkingSpot): void {
  const { words, waitersIndex, signalIndex, pendingIndex } = spot;
  if (Atomics.load(words, waitersIndex) > 0) {
    if (pendingIndex !== undefined && Atomics.exchange(words, pendingIndex, 1) !== 0) return;
    Atomics.add(words, signalIndex, 1);
    Atomics.notify(words, signalIndex);
  }
}

/**
 * A waiter about to park takes any pending wake back (before it reads the signal), so the next
 * commit notifies again. A waker that set the flag after this has published before its notify,
 * so the waiter either sees that in its re-check or is parked when the notify comes.
 */
function clearPending(spot: ParkingSpot): void {
  if (spot.pendingIndex !== undefined) Atomics.store(spot.words, spot.pendingIndex, 0);
}

/** Wakes every waiter unconditionally (used by close()). */
export function wakeAll(spot: ParkingSpot): void {
  Atomics.add(spot.words, spot.signalIndex, 1);
  Atomics.notify(spot.words, spot.signalIndex);
}

export interface SpinThenParkOptions {
  /**
   * The longest a blocking waiter keeps checking `ready()` before it parks, in µs. Parking and
   * waking cost tens of µs each, so a waiter that expects work soon should spin for about that
   * long; the spin adapts below this bound (AdaptiveSpin) when spinning stops paying, e.g. when
   * more threads than cores compete. Default 50.
   */
  spinMicros?: number;
  /**
   * The same for async waiters (Atomics.waitAsync). Spinning holds the event loop, but 50 µs at a
   * time is nothing to a UI (a frame is 16 ms), saves a wake-up of tens of µs when the answer is
   * near, and adapts down when it is not. Default 50; 0 parks at once.
   */
  asyncSpinMicros?: number;
  /** Longest single park; the waiter then re-checks and re-parks (and beats). Default 1000 ms. */
  maxParkMs?: number;
}

/**
 * Spin (for an adaptive time, bounded), then park on the futex (Atomics.wait in workers,
 * Atomics.waitAsync on the main thread). Registering as a waiter, re-reading the signal and then
 * re-checking the condition before parking closes the lost-wake-up window: a waker either sees the
 * registration or changes the condition before our re-check.
 */
export class SpinThenParkStrategy implements WaitStrategy {
  readonly spinMicros: number;
  readonly asyncSpinMicros: number;
  readonly maxParkMs: number;

  constructor(options: SpinThenParkOptions = {}) {
    this.spinMicros = nonNegative(options.spinMicros ?? 50, 'spinMicros');
    this.asyncSpinMicros = nonNegative(options.asyncSpinMicros ?? 50, 'asyncSpinMicros');
    this.maxParkMs = positive(options.maxParkMs ?? 1000, 'maxParkMs');
  }

  wait(ready: () => boolean, spot: ParkingSpot, deadline: number): boolean {
    const spinner = (spot.spinner ??= new AdaptiveSpin(this.spinMicros));
    if (spinner.spin(ready)) return true;
    if (isMainThread) throw new BlockingOnMainThreadError('a blocking ring wait');
    const parkedAt = now();
    const steps = parkSteps(ready, spot, deadline, this.maxParkMs);
    let step = steps.next();
    while (!step.done) {
      Atomics.wait(spot.words, spot.signalIndex, step.value.signal, step.value.ms);
      step = steps.next();
    }
    return settle(step.value, spinner, parkedAt);
  }

  async waitAsync(ready: () => boolean, spot: ParkingSpot, deadline: number): Promise<boolean> {
    const spinner = (spot.asyncSpinner ??= new AdaptiveSpin(this.asyncSpinMicros));
    if (spinner.spin(ready)) return true;
    const parkedAt = now();
    const steps = parkSteps(ready, spot, deadline, this.maxParkMs);
    let step = steps.next();
    while (!step.done) {
      const result = Atomics.waitAsync(spot.words, spot.signalIndex, step.value.signal, step.value.ms);
      if (result.async) await keepingAlive(result.value);
      step = steps.next();
    }
    return settle(step.value, spinner, parkedAt);
  }
}

/** One request to park: sleep while the signal word still holds `signal`, for at most `ms`. */
interface Park {
  readonly signal: number;
  readonly ms: number;
}

/**
 * The waiter's half of the protocol, written once for both drivers (Atomics.wait and
 * Atomics.waitAsync): register as a waiter, take back any pending wake, read the signal, re-check,
 * then yield to the driver to park; repeat until ready or past the deadline (`once`: after the
 * first park, whatever ended it).
 */
function* parkSteps(ready: () => boolean, spot: ParkingSpot, deadline: number, maxParkMs: number, once = false): Generator<Park, boolean, void> {
  const { words, waitersIndex, signalIndex } = spot;
  for (;;) {
    const remaining = deadline - now();
    if (remaining <= 0) return ready();
    spot.beforePark?.();
    Atomics.add(words, waitersIndex, 1);
    clearPending(spot);
    try {
      const signal = Atomics.load(words, signalIndex);
      if (ready()) return true;
      yield { signal, ms: Math.min(remaining, maxParkMs) };
    } finally {
      Atomics.sub(words, waitersIndex, 1);
    }
    const done = ready();
    if (done || once) return done;
  }
}

/**
 * One park on `spot`, no spinning: returns when `ready()` (checked after registering, so no wake
 * is lost), at a wake — which may be for another reason than `ready()`, e.g. wakeAll — or after
 * `timeoutMs`; returns `ready()`. For a thread with its own spinning and its own reasons to wake,
 * like a server loop that also turns its event loop. Blocking: the caller decides whether its
 * thread may block (the strategies above refuse the main thread).
 */
export function parkOnce(ready: () => boolean, spot: ParkingSpot, timeoutMs: number): boolean {
  const steps = parkSteps(ready, spot, Infinity, timeoutMs, true);
  let step = steps.next();
  while (!step.done) {
    Atomics.wait(spot.words, spot.signalIndex, step.value.signal, step.value.ms);
    step = steps.next();
  }
  return step.value;
}

/**
 * `parkOnce` with Atomics.waitAsync: never blocks the thread. The pending wait does not keep the
 * event loop alive (a caller that must stay alive meanwhile holds its own timer).
 */
export async function parkOnceAsync(ready: () => boolean, spot: ParkingSpot, timeoutMs: number): Promise<boolean> {
  const steps = parkSteps(ready, spot, Infinity, timeoutMs, true);
  let step = steps.next();
  while (!step.done) {
    const result = Atomics.waitAsync(spot.words, spot.signalIndex, step.value.signal, step.value.ms);
    if (result.async) await result.value;
    step = steps.next();
  }
  return step.value;
}

/** Tells the spinner how long the wait lasted, when it ended ready (so spinning can adapt). */
function settle(ready: boolean, spinner: AdaptiveSpin, parkedAt: number): boolean {
  if (ready) spinner.parked(now() - parkedAt);
  return ready;
}

/**
 * Never parks a blocking waiter: lowest latency, one core burnt per waiter. Async waiters still
 * park (a spinning main thread would starve its own event loop).
 */
export class BusySpinStrategy implements WaitStrategy {
  private readonly fallback = new SpinThenParkStrategy();

  wait(ready: () => boolean, _spot: ParkingSpot, deadline: number): boolean {
    if (isMainThread) throw new BlockingOnMainThreadError('a blocking ring wait');
    for (let i = 1; ; i++) {
      if (ready()) return true;
      if ((i & 1023) === 0 && now() >= deadline) return ready();
    }
  }

  waitAsync(ready: () => boolean, spot: ParkingSpot, deadline: number): Promise<boolean> {
    return this.fallback.waitAsync(ready, spot, deadline);
  }
}

/**
 * A pending Atomics.waitAsync does not keep Node's event loop alive: a process whose only work is
 * such a wait would exit under it. A timer held for the wait's duration does.
 */
async function keepingAlive<T>(pending: Promise<T>): Promise<T> {
  const keepAlive = setInterval(() => {}, 0x7fff_ffff);
  try {
    return await pending;
  } finally {
    clearInterval(keepAlive);
  }
}

export const defaultWaitStrategy: WaitStrategy = new SpinThenParkStrategy();

/** Converts an optional timeout in ms to a deadline on platform's now() clock. */
export function deadlineAfter(timeoutMs: number | undefined): number {
  if (timeoutMs === undefined || timeoutMs === Infinity) return Infinity;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new InvalidArgumentError(`timeoutMs must be a non-negative number of milliseconds, got ${String(timeoutMs)}`);
  }
  return now() + timeoutMs;
}

function nonNegative(value: number, name: string): number {
  if (!(typeof value === 'number' && value >= 0 && Number.isFinite(value))) {
    throw new InvalidArgumentError(`${name} must be a non-negative number, got ${value}`);
  }
  return value;
}

function positive(value: number, name: string): number {
  if (!(value > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${value}`);
  return value;
}
