// ringflow/platform: the host facts Node and browsers differ on (clock, thread kind, blocking
// waits), read without importing any `node:` module, so ring/ and sync/ run in a Web Worker too.
export { now, isMainThread, atomicsWaitAllowed, sharedMemoryAvailable, hardwareConcurrency, runtime } from './host.js';
export type { Runtime } from './host.js';
