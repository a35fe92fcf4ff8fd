/**
 * The few facts about the host that Node and browsers differ on, computed once when this module
 * loads (the ring reads them on hot paths: they must be a constant and a plain function).
 *
 * Why one module with runtime checks rather than a "browser" and a "node" file picked by
 * package.json conditions: the same source must run under tsx/vitest (from src/), from the tsc
 * build (dist/) and inside an esbuild bundle for either platform, and a condition map would have
 * to name both trees. The checks below touch only globals, so a browser bundle of ring/, sync/
 * and platform/ contains no `node:` import at all, and nothing here is evaluated per call.
 *
 * On Node, the thread kind comes from `process.getBuiltinModule('worker_threads')` (Node ≥ 20.16,
 * Electron ≥ 32): a built-in looked up at run time, not an import a bundler would follow.
 */

/** The slice of Node's `process` read here, typed locally so nothing assumes Node's globals exist. */
interface NodeProcessLike {
  versions?: { node?: string };
  getBuiltinModule?: (id: string) => unknown;
}

interface Navigator {
  hardwareConcurrency?: number;
}

const host = globalThis as typeof globalThis & {
  process?: NodeProcessLike;
  WorkerGlobalScope?: abstract new () => unknown;
  navigator?: Navigator;
};

/** Where this code runs: Node (also Electron's main and utility processes) or a browser-like host. */
export type Runtime = 'node' | 'browser';

const nodeProcess = typeof host.process?.versions?.node === 'string' ? host.process : undefined;

/** A Web Worker of a browser (or of an Electron renderer): `self` is a WorkerGlobalScope. */
const inWebWorker = typeof host.WorkerGlobalScope === 'function' && globalThis instanceof host.WorkerGlobalScope;

export const runtime: Runtime = nodeProcess !== undefined && !inWebWorker ? 'node' : 'browser';

function nodeBuiltin<T>(id: string): T {
  const lookup = nodeProcess?.getBuiltinModule;
  if (typeof lookup !== 'function') {
    throw new Error(`ringflow needs process.getBuiltinModule (Node >= 20.16) to read '${id}'; this is Node ${nodeProcess?.versions?.node}`);
  }
  return lookup.call(nodeProcess, id) as T;
}

/**
 * True on the thread that must never block: Node's main thread (Electron's main process too) and
 * a browser page; false in Node worker threads and in Web Workers.
 */
export const isMainThread: boolean =
  runtime === 'node' ? nodeBuiltin<{ isMainThread: boolean }>('worker_threads').isMainThread : !inWebWorker;

/**
 * Whether the host lets this thread park in a blocking `Atomics.wait` at all (browsers forbid it on
 * a page's thread; Node allows it everywhere). ringflow's own rule is stricter — it refuses to
 * block any main thread — so this is the host's limit, for code that opts into blocking.
 */
export const atomicsWaitAllowed: boolean = probeAtomicsWait();

function probeAtomicsWait(): boolean {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics.wait !== 'function') return false;
  try {
    // The word holds 0, not 1: the call returns 'not-equal' at once where waiting is allowed.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether SharedArrayBuffer exists here (a browser page needs cross-origin isolation: COOP + COEP). */
export const sharedMemoryAvailable: boolean = typeof SharedArrayBuffer === 'function';

const clock = globalThis.performance;

/** A monotonic clock in ms (fractional), for deadlines and durations within one thread. */
export function now(): number {
  return clock.now();
}

/** How many threads can run at once here (a hint for sizing pools). */
export function hardwareConcurrency(): number {
  if (runtime === 'node') return nodeBuiltin<{ availableParallelism(): number }>('os').availableParallelism();
  return host.navigator?.hardwareConcurrency ?? 1;
}
