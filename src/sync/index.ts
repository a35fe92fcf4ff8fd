// ringflow/sync: locks and signals that live in SharedArrayBuffers, for worker threads (blocking
// methods) and the main thread (the *Async methods, built on Atomics.waitAsync).
export { Mutex } from './mutex.js';
export { Semaphore } from './semaphore.js';
export { Condition } from './condition.js';
export { WaitGroup } from './wait-group.js';
export { Latch } from './latch.js';
export { NotLockedError, NegativeCounterError } from './errors.js';
export type { SyncHandle } from './memory.js';
