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
  constructor(message: string, code = 'ERR_INVALID_ARGUMENT') {
    super(code, message);
  }
}

/** An options object with a key the call does not know (a misspelling, most often). */
export class UnknownOptionError extends InvalidArgumentError {
  readonly option: string;
  readonly validOptions: readonly string[];
  constructor(where: string, option: string, validOptions: readonly string[]) {
    super(`${where}: unknown option '${option}' (valid: ${validOptions.join(', ')})`, 'ERR_UNKNOWN_OPTION');
    this.option = option;
    this.validOptions = validOptions;
  }
}

/**
 * Throws UnknownOptionError for the first own key of `options` not in `validKeys`. Undefined or
 * null options pass (the caller's defaults apply); anything else that is not an object is an
 * InvalidArgumentError.
 */
export function checkOptionKeys(where: string, options: unknown, validKeys: readonly string[]): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') throw new InvalidArgumentError(`${where}: options must be an object, got ${typeof options}`);
  for (const key of Object.keys(options)) {
    if (!validKeys.includes(key)) throw new UnknownOptionError(where, key, validKeys);
  }
}

/** checkOptionKeys, returning the options to read (`{}` for undefined or null). */
export function checkOptions<T extends object>(where: string, options: T | undefined, validKeys: readonly string[]): T {
  checkOptionKeys(where, options, validKeys);
  return options ?? ({} as T);
}

/**
 * The operation was cancelled (an AbortSignal fired, or a cancel() call): the name and code follow
 * Node's own AbortError, so `error.name === 'AbortError'` checks keep working. `cause` is the
 * signal's reason when it gave one.
 */
export class AbortError extends RingflowError {
  constructor(message = 'the operation was cancelled', options?: ErrorOptions) {
    super('ABORT_ERR', message, options);
  }
}
