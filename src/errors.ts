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

/**
 * An options object has a key no option is called: a misspelt option would otherwise be ignored
 * without a word. `option` is the key given, `validKeys` the ones `what` takes.
 */
export class UnknownOptionError extends InvalidArgumentError {
  constructor(
    readonly what: string,
    readonly option: string,
    readonly validKeys: readonly string[],
  ) {
    super(`${what}: unknown option '${option}'; the options are ${validKeys.map((k) => `'${k}'`).join(', ')}`, 'ERR_UNKNOWN_OPTION');
  }
}

/**
 * Checks an options argument up front: undefined, or a plain object whose keys are all in
 * `validKeys` (UnknownOptionError names the first other key and the valid ones). Returns the
 * options, `{}` for undefined. Keys whose value is undefined count as given: a misspelling is
 * still a misspelling.
 */
export function checkOptions<T extends object>(what: string, options: T | undefined, validKeys: readonly string[]): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(`${what}: options must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const key in options) {
    if (!validKeys.includes(key)) throw new UnknownOptionError(what, key, validKeys);
  }
  return options;
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
