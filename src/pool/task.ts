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
  if (!tsxRegistered && /\.[mc]?tsx?$/.test(new URL(moduleUrl).pathname)) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      tsxRegistered = true;
    } catch (cause) {
      throw new TaskLoadError(`${moduleUrl} is TypeScript; install 'tsx' to load it without a build step`, { cause });
    }
  }
  return (await import(moduleUrl)) as Record<string, unknown>;
}
