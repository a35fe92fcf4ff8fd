import { performance } from 'node:perf_hooks';

/**
 * Blocks (worker threads, or the main thread where the manager allows blocking) until `ready()`
 * or the deadline: spins for `spinMicros`, then sleeps in short steps — on `words[signalIndex]`
 * when given (registered in `words[waitersIndex]`, so the other side can notify), else on a timer.
 * Used where a call waits for room in a full queue or ring; answers are awaited on doorbells.
 */
export function blockUntil(ready: () => boolean, deadline: number, spinMicros: number, words?: Int32Array, signalIndex?: number, waitersIndex?: number): boolean {
  let now = performance.now();
  const spinUntil = now + spinMicros / 1000;
  while (now < spinUntil) {
    if (ready()) return true;
    now = performance.now();
  }
  for (;;) {
    if (ready()) return true;
    now = performance.now();
    if (now >= deadline) return false;
    const ms = Math.min(deadline - now, 10);
    if (words !== undefined && signalIndex !== undefined && waitersIndex !== undefined) {
      Atomics.add(words, waitersIndex, 1);
      try {
        const signal = Atomics.load(words, signalIndex);
        if (ready()) return true;
        Atomics.wait(words, signalIndex, signal, ms);
      } finally {
        Atomics.sub(words, waitersIndex, 1);
      }
    } else {
      Atomics.wait(sleeper, 0, 0, Math.min(ms, 1));
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
