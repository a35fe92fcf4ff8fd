import { RingflowError } from '../errors.js';

/** What a pool worker runs: `module`'s export `export`, called with `data`. */
export interface TaskSpec {
  module: string;
  export: string;
  data?: unknown;
}

/** A task named a module or export that is not there, or not a function. */
export class TaskLoadError extends RingflowError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TASK_LOAD', message, options);
  }
}

const modules = new Map<string, Promise<Record<string, unknown>>>();

/**
 * Set by workers/bootstrap.mjs when it runs ringflow's worker entries as one classic script (for
 * V8's code cache): the entries' namespaces by URL, and an import() of its own (a vm script has
 * none without an experimental flag). Unset when the entries are ES modules.
 */
const PRELOADED = Symbol.for('ringflow.preloadedEntries');
const IMPORT_HOOK = Symbol.for('ringflow.import');
type Hooks = { [PRELOADED]?: Map<string, Record<string, unknown>>; [IMPORT_HOOK]?: (specifier: string) => Promise<unknown> };
const hooks = globalThis as Hooks;
const importSpecifier = (specifier: string): Promise<unknown> => hooks[IMPORT_HOOK]?.(specifier) ?? import(specifier);
let tsxRegistered = false;

/** Imports `moduleUrl` (TypeScript too, through tsx when present) and returns its export `name`. */
export async function resolveTaskFunction(moduleUrl: string, name: string): Promise<(data: unknown) => unknown> {
  let loading = modules.get(moduleUrl);
  if (!loading) {
    loading = importModule(moduleUrl);
    modules.set(moduleUrl, loading);
  }
  let mod: Record<string, unknown>;
  try {
    mod = await loading;
  } catch (cause) {
    modules.delete(moduleUrl);
    throw new TaskLoadError(`cannot load module ${moduleUrl}: ${(cause as Error)?.message ?? cause}`, { cause });
  }
  const fn = mod[name];
  if (typeof fn !== 'function') {
    throw new TaskLoadError(`module ${moduleUrl} has no exported function '${name}'`);
  }
  return fn as (data: unknown) => unknown;
}

async function importModule(moduleUrl: string): Promise<Record<string, unknown>> {
  const preloaded = hooks[PRELOADED]?.get(moduleUrl);
  if (preloaded) return preloaded;
  if (!tsxRegistered && /\.[mc]?tsx?$/.test(new URL(moduleUrl).pathname)) {
    try {
      const { register } = (await importSpecifier('tsx/esm/api')) as typeof import('tsx/esm/api');
      register();
      tsxRegistered = true;
    } catch (cause) {
      throw new TaskLoadError(`${moduleUrl} is TypeScript; install 'tsx' to load it without a build step`, { cause });
    }
  }
  return (await importSpecifier(moduleUrl)) as Record<string, unknown>;
}
