export { spawnWorker, bootstrapData, BOOTSTRAP_URL } from './spawn.js';
export { WorkerPool } from './worker-pool.js';
export type { WorkerPoolOptions } from './worker-pool.js';
export { TaskLoadError, resolveTaskFunction } from './task.js';
export type { TaskSpec } from './task.js';
export { op, isOpRef } from './op.js';
export type { OpRef } from './op.js';
export { applyThreadPriority, checkThreadPriority } from './thread-priority.js';
export type { ThreadPriority } from './thread-priority.js';
