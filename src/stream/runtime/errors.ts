import { RingflowError } from '../../errors.js';

// The errors a running pipeline reports for one record, and for a handler of the job's.

/** An operator threw on a record. Carries the operator's name and the record's key, if it had one. */
export class OperatorError extends RingflowError {
  constructor(
    readonly operator: string,
    readonly key: unknown,
    cause: unknown,
    code = 'ERR_OPERATOR_FAILED',
  ) {
    super(code, `operator '${operator}' failed${key === undefined ? '' : ` on key ${String(key)}`}: ${messageOf(cause)}`, { cause });
  }
}

/**
 * A keyBy key selector threw on a record, or returned no usable key (undefined, null, an object).
 * `operator` is the selector's name ("keyBy after <operator>"); `record` is the record it was given
 * (which may be another than the one the stage's chain started from).
 */
export class KeySelectorError extends OperatorError {
  constructor(
    selector: string,
    readonly record: unknown,
    cause: unknown,
  ) {
    super(selector, undefined, cause, 'ERR_KEY_SELECTOR');
  }
}

/** A record's timestamp is NaN or infinite (a timestamp extractor's result, or a vector record's `ts`). */
export class InvalidTimestampError extends RingflowError {
  constructor(readonly ts: unknown) {
    super('ERR_INVALID_TIMESTAMP', `a record's timestamp must be a finite number of ms, got ${String(ts)}`);
  }
}

/** A sink's callback threw on a record (or its promise rejected); `sink` is the sink's name. */
export class SinkError extends RingflowError {
  constructor(
    readonly sink: string,
    cause: unknown,
  ) {
    super('ERR_SINK_FAILED', `sink '${sink}' failed: ${messageOf(cause)}`, { cause });
  }
}

/** What anything thrown says, for a message: an Error's message, a `{ message }` object's, else its string form. */
export function messageOf(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === 'object' && thrown !== null && typeof (thrown as { message?: unknown }).message === 'string') {
    return (thrown as { message: string }).message;
  }
  try {
    return String(thrown);
  } catch {
    return Object.prototype.toString.call(thrown);
  }
}

/** Anything thrown, as an Error (a thrown `{ code, message }` keeps both). */
export function toError(thrown: unknown): Error & { code?: string } {
  if (thrown instanceof Error) return thrown;
  const error = new Error(messageOf(thrown)) as Error & { code?: string };
  const code = (thrown as { code?: unknown } | null)?.code;
  if (typeof code === 'string') error.code = code;
  return error;
}
