import { performance } from 'node:perf_hooks';
import { InvalidArgumentError } from '../errors.js';

/** A call as middleware sees it before it is made. `args` may be replaced. */
export interface CallInfo {
  readonly service: string;
  readonly method: string;
  args: unknown[];
  readonly placement: 'local' | 'worker';
}

/** A call as middleware sees it after it settled. `ok`, `result` and `error` may be replaced. */
export interface CallOutcome extends CallInfo {
  ok: boolean;
  result: unknown;
  error: unknown;
  readonly durationMs: number;
}

/**
 * Hooks around calls made through the ServiceManager on its own thread (worker clients do not
 * run them: functions cannot cross threads). `before` runs in registration order and may change
 * the arguments or throw to refuse the call; `after` runs in reverse order and may change the
 * outcome. Either may return a promise (callSync refuses that: it cannot wait).
 */
export interface ServiceMiddleware {
  before?(call: CallInfo): void | Promise<void>;
  after?(outcome: CallOutcome): void | Promise<void>;
}

export class MiddlewareChain {
  private readonly list: ServiceMiddleware[] = [];

  get empty(): boolean {
    return this.list.length === 0;
  }

  use(middleware: ServiceMiddleware): void {
    if (typeof middleware !== 'object' || middleware === null) throw new InvalidArgumentError('use() needs an object with before and/or after functions');
    const { before, after } = middleware;
    if (before !== undefined && typeof before !== 'function') throw new InvalidArgumentError('middleware before must be a function');
    if (after !== undefined && typeof after !== 'function') throw new InvalidArgumentError('middleware after must be a function');
    if (before === undefined && after === undefined) throw new InvalidArgumentError('middleware needs before and/or after');
    this.list.push(middleware);
  }

  async run(call: CallInfo, next: (call: CallInfo) => Promise<unknown>): Promise<unknown> {
    for (const m of this.list) if (m.before !== undefined) await m.before(call);
    const started = performance.now();
    let outcome: CallOutcome;
    try {
      const result = await next(call);
      outcome = { ...call, ok: true, result, error: undefined, durationMs: performance.now() - started };
    } catch (error) {
      outcome = { ...call, ok: false, result: undefined, error, durationMs: performance.now() - started };
    }
    for (let i = this.list.length - 1; i >= 0; i--) {
      const after = this.list[i]!.after;
      if (after !== undefined) await after.call(this.list[i], outcome);
    }
    if (outcome.ok) return outcome.result;
    throw outcome.error;
  }

  runSync(call: CallInfo, next: (call: CallInfo) => unknown): unknown {
    for (const m of this.list) if (m.before !== undefined) refuseAsync(m.before(call), 'before');
    const started = performance.now();
    let outcome: CallOutcome;
    try {
      const result = next(call);
      outcome = { ...call, ok: true, result, error: undefined, durationMs: performance.now() - started };
    } catch (error) {
      outcome = { ...call, ok: false, result: undefined, error, durationMs: performance.now() - started };
    }
    for (let i = this.list.length - 1; i >= 0; i--) {
      const after = this.list[i]!.after;
      if (after !== undefined) refuseAsync(after.call(this.list[i], outcome), 'after');
    }
    if (outcome.ok) return outcome.result;
    throw outcome.error;
  }
}

function refuseAsync(value: unknown, hook: string): void {
  if (value !== undefined && typeof (value as Promise<void>)?.then === 'function') {
    throw new InvalidArgumentError(`middleware ${hook} returned a promise, which callSync cannot wait for; use call()`);
  }
}
