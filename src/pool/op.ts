import { InvalidArgumentError } from '../errors.js';

/**
 * A serializable reference to a module export: what crosses to a worker thread in place of a
 * function or class (which cannot). The worker imports `module` and takes its export `export`.
 */
export interface OpRef {
  readonly module: string;
  readonly export: string;
}

/**
 * `op(import.meta.url, 'KvService')` names the export `KvService` of the calling module; any
 * module URL (or absolute file path) works, TypeScript ones too (loaded through tsx in workers).
 */
export function op(moduleUrl: string | URL, exportName: string): OpRef {
  let module: string;
  try {
    module = moduleUrl instanceof URL ? moduleUrl.href : new URL(moduleUrl).href;
  } catch {
    if (typeof moduleUrl === 'string' && moduleUrl.startsWith('/')) module = new URL(`file://${moduleUrl}`).href;
    else throw new InvalidArgumentError(`op() needs a module URL (e.g. import.meta.url) or an absolute path, got ${String(moduleUrl)}`);
  }
  if (typeof exportName !== 'string' || exportName.length === 0) {
    throw new InvalidArgumentError(`op() needs the name of an export, got ${String(exportName)}`);
  }
  return Object.freeze({ module, export: exportName });
}

/** True for a value shaped like an OpRef (what `op()` returns, or the same after a structured clone). */
export function isOpRef(value: unknown): value is OpRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as OpRef).module === 'string' &&
    typeof (value as OpRef).export === 'string'
  );
}
