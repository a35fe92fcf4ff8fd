import { RingflowError } from '../../errors.js';

/*
 * What workers need of user functions: the FnRef shape and compileSource. Checking a function on
 * the main thread (toFnRef) parses it with acorn, in function-check.ts: worker threads import
 * this module and not that one (acorn is ~200 kB of code to load per thread).
 */

/**
 * How a user function travels to a worker: its source text (for self-contained functions), or a
 * module export reference (`op(moduleUrl, 'name')`) for anything that needs imports or state.
 */
export type FnRef =
  | { kind: 'source'; source: string; operator: string }
  | { kind: 'module'; module: string; export: string; operator: string };


/** A user function that cannot be shipped to a worker thread; names the operator and the cause. */
export class OperatorFunctionError extends RingflowError {
  readonly operator: string;
  readonly missing?: string;
  constructor(operator: string, message: string, missing?: string) {
    super('ERR_OPERATOR_FUNCTION', `operator '${operator}': ${message}`);
    this.operator = operator;
    this.missing = missing;
  }
}

/** Builds the callable in a worker from a FnRef (module exports are imported by the caller). */
export function compileSource(ref: Extract<FnRef, { kind: 'source' }>): (...args: unknown[]) => unknown {
  try {
    const fn = new Function(`"use strict"; return (${ref.source});`)() as unknown;
    if (typeof fn !== 'function') throw new Error('the source does not evaluate to a function');
    return fn as (...args: unknown[]) => unknown;
  } catch (cause) {
    throw new OperatorFunctionError(ref.operator, `cannot compile the function in the worker: ${(cause as Error).message}`);
  }
}
