// ringflow/sync: locks and signals that live in SharedArrayBuffers, for worker threads (blocking
// methods) and the main thread (the *Async methods, built on Atomics.waitAsync).
export { Mutex } from './mutex.js';
export { Semaphore } from './semaphore.js';
export { Condition } from './condition.js';
export { WaitGroup } from './wait-group.js';
export { Latch } from './latch.js';
export { NotLockedError, NegativeCounterError } from './errors.js';
export type { SyncHandle } from './memory.js';
// How a thread waits for another (pluggable, as in the LMAX Disruptor); the ring waits with these too.
export {
  SpinThenParkStrategy,
  BusySpinStrategy,
  defaultWaitStrategy,
  wake,
  wakeAll,
  parkOnce,
  parkOnceAsync,
  deadlineAfter,
} from './wait-strategy.js';
export type { WaitStrategy, ParkingSpot, SpinThenParkOptions } from './wait-strategy.js';
export { AdaptiveSpin } from './adaptive-spin.js';
