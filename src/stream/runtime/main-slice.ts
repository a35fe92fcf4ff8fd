import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * The main thread's time slice, shared by every source and sink driver. Their loops continue in
 * microtasks (a promise that resolves at once, a wait that spins to success), which never let
 * the event loop run; so each checks this one clock and, once it has run SLICE_MS since the
 * event loop last had a turn, yields a turn (setImmediate) before going on. One clock for all:
 * two drivers that each kept their own would hand the thread to each other without yielding.
 */
export const SLICE_MS = 4;

let sliceStart = performance.now();

/** A promise to await when the slice is used up, else undefined (no promise, no microtask). */
export function yieldIfDue(): Promise<void> | undefined {
  return performance.now() - sliceStart > SLICE_MS ? yieldTurn() : undefined;
}

async function yieldTurn(): Promise<void> {
  await nextTurn();
  sliceStart = performance.now();
}
