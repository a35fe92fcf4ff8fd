import { Worker, type WorkerOptions } from 'node:worker_threads';
import { bootstrapUrl, resolveWorkerModule } from './worker-files.js';

/**
 * The package's copy of the file every ringflow worker starts from; it imports the real entry (see
 * workers/bootstrap.mjs). It is plain JS and never compiled, so from a build (dist/src/pool/) it is
 * one level further up. A worker directory (worker-files.ts) replaces it for bundled apps.
 */
export const BOOTSTRAP_URL = new URL(`${import.meta.url.endsWith('.ts') ? '../..' : '../../..'}/workers/bootstrap.mjs`, import.meta.url);

/** workerData for the bootstrap: the caller's data plus the entry module it must import. */
export function bootstrapData(entry: URL | string, data: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...data, __ringflowEntry: resolveWorkerModule(String(entry)) };
}

/**
 * Starts a worker thread running `entry` (a .js or .ts module URL). From TypeScript sources the
 * entry is loaded through tsx, so the same code runs with and without a build step.
 */
export function spawnWorker(entry: URL | string, workerData: Record<string, unknown> = {}, options: WorkerOptions = {}): Worker {
  return new Worker(bootstrapUrl(BOOTSTRAP_URL), { ...options, workerData: bootstrapData(entry, workerData) });
}
