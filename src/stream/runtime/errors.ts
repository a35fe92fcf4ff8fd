import {
  BufferTooSmallError,
  DimensionMismatchError,
  InvalidValueError,
  MalformedRecordError,
  UnserializableValueError,
  ValueOutOfRangeError,
} from '../../codec/index.js';
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

/** A record's timestamp is not a finite number (a timestamp extractor's result, or a vector record's `ts`). */
export class InvalidTimestampError extends RingflowError {
  constructor(readonly ts: unknown) {
    const got = typeof ts === 'number' ? String(ts) : typeof ts === 'string' ? `the string ${JSON.stringify(ts)}` : Array.isArray(ts) ? 'an array' : ts === null ? 'null' : typeof ts;
    super('ERR_INVALID_TIMESTAMP', `a record's timestamp must be a finite number of ms, got ${got}`);
  }
}

/** A sink's callback threw on a record (or its promise rejected); `sink` is the sink's name. */
export class SinkError extends RingflowError {
  /**
   * When it failed the job (no onError handler): the job's counts at that moment (records per
   * source, and handed to each sink, this one's failed record included); what had not reached a
   * sink by then was not delivered.
   */
  result?: unknown;
  constructor(
    readonly sink: string,
    cause: unknown,
    /** The record the sink failed on. */
    readonly record?: unknown,
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

/** An error as it crosses threads: its class is lost on the way (structured clone keeps plain Errors). */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/** The error classes a worker may raise for a record, by name, so they arrive as instances of their class. */
const REVIVED_CLASSES = new Map<string, { prototype: Error }>(
  [KeySelectorError, OperatorError, InvalidTimestampError, SinkError, DimensionMismatchError, ValueOutOfRangeError, InvalidValueError, MalformedRecordError, UnserializableValueError, BufferTooSmallError].map(
    (type) => [type.name, type],
  ),
);

/**
 * The Error a thread sent, rebuilt here: an instance of its ringflow class when it had one (so
 * `instanceof KeySelectorError` holds on the main thread), an operator's error with `fields`
 * (operator, key, record) set on it; else a plain Error with its name and code.
 */
export function reviveError(wire: WireError, fields: Record<string, unknown> = {}): Error & { code?: string } {
  const error = Object.assign(new Error(wire.message), wire) as Error & { code?: string };
  const type = REVIVED_CLASSES.get(wire.name);
  if (type === undefined) return error;
  Object.setPrototypeOf(error, type.prototype);
  // An operator's error carries the operator, key and record; the others carry nothing more.
  if (error instanceof OperatorError) Object.assign(error, fields);
  return error;
}
