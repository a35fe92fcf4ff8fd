import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * The main thread's time slice, shared by every source and sink driver. Their loops continue in
 * microtasks (a promise that resolves at once, a wait that spins to success), which never let
 * the event loop run; so each checks this one clock and, once it has run SLICE_MS since the
 * event loop last had a turn, yields a turn (setImmediate) before going on. One clock for all:
 * two drivers that each kept their own would hand the thread to each other without yielding.
 */
// 2 ms, not more: where workers fill every core, the OS adds runqueue waits of 4-8 ms (whole
// scheduler ticks) on top of whatever the thread holds, and the sum is what the event loop sees.
export const SLICE_MS = 2;

let sliceStart = performance.now();
/** The turn every driver that found the slice used up waits for: the slice restarts once per turn. */
let pendingTurn: Promise<void> | undefined;

/**
 * A promise to await when the slice is used up, else undefined (no promise, no microtask). Every
 * caller that finds it used up waits for the same turn: were each to yield its own, each would
 * restart the slice as it resumed, and the event loop would wait one slice per driver.
 */
export function yieldIfDue(): Promise<void> | undefined {
  if (!sliceUsedUp()) return undefined;
  pendingTurn ??= yieldTurn();
  return pendingTurn;
}

/** True once the slice is used up: a loop that handles work in pieces of unknown cost ends its pass here. */
export function sliceUsedUp(): boolean {
  return pendingTurn !== undefined || performance.now() - sliceStart > SLICE_MS;
}

async function yieldTurn(): Promise<void> {
  await nextTurn();
  sliceStart = performance.now();
  pendingTurn = undefined;
}
