/**
 * The root of every error ringflow throws. `code` is stable across versions: match on it, not on
 * the message.
 */
export class RingflowError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A wait, call or write did not complete before its deadline. */
export class TimeoutError extends RingflowError {
  constructor(message = 'operation timed out', options?: ErrorOptions) {
    super('ERR_TIMEOUT', message, options);
  }
}

/** A blocking wait was attempted on the main thread, which must never block. */
export class BlockingOnMainThreadError extends RingflowError {
  constructor(what: string) {
    super(
      'ERR_BLOCKING_ON_MAIN_THREAD',
      `${what} blocks the calling thread and is refused on the main thread; use the async form (it waits with Atomics.waitAsync)`,
    );
  }
}

/** An option or argument broke a documented rule; the message names the rule. */
export class InvalidArgumentError extends RingflowError {
  constructor(message: string) {
    super('ERR_INVALID_ARGUMENT', message);
  }
}
