import { RingflowError } from '../errors.js';

// Errors the codec throws. Each has a stable `code`; match on it, not on the message. Input of the
// wrong kind is a TypeError and input outside its range a RangeError (as Node's own
// ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE are), so those extend the built-ins rather than
// RingflowError; the errors about memory and bytes extend RingflowError.

/** A vector's length is not the declared `dim` (or a batch's data is not `count * dim` long). */
export class DimensionMismatchError extends RangeError {
  readonly code = 'ERR_DIM_MISMATCH';
  constructor(
    readonly expected: number,
    readonly actual: number,
    what = 'vector',
  ) {
    super(`${what} has ${actual} elements, expected ${expected}`);
    this.name = new.target.name;
  }
}

/** A number is outside what its wire field can hold (uint64 uid, int64 ts, uint32 id, ...). */
export class ValueOutOfRangeError extends RangeError {
  readonly code = 'ERR_OUT_OF_RANGE';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A value is of the wrong type: a non-numeric vector element, a uid that is not a bigint, ... */
export class InvalidValueError extends TypeError {
  readonly code = 'ERR_INVALID_VALUE';
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The target region ends before the record would. */
export class BufferTooSmallError extends RingflowError {
  constructor(
    readonly needed: number,
    readonly available: number,
  ) {
    super('ERR_BUFFER_TOO_SMALL', `record needs ${needed} bytes, only ${available} available at that offset`);
  }
}

/** A record must start on an 8-byte boundary (of the underlying buffer) so its 64-bit fields and Float64 data are aligned. */
export class MisalignedOffsetError extends RingflowError {
  constructor(
    readonly byteOffset: number,
    readonly alignment: number,
  ) {
    super(
      'ERR_MISALIGNED',
      `byte ${byteOffset} of the underlying buffer is not ${alignment}-byte aligned; records start on ${alignment}-byte boundaries`,
    );
  }
}

/** The bytes at the offset are not a record of the expected table (or one this codec cannot view in place). */
export class MalformedRecordError extends RingflowError {
  constructor(message: string) {
    super('ERR_MALFORMED_RECORD', message);
  }
}

/**
 * The value codec refused the value (a function, a symbol, a WeakMap, ...), as structured clone
 * would. A TypeError, like structured clone's DataCloneError (the codec's own error is the `cause`).
 */
export class UnserializableValueError extends TypeError {
  readonly code = 'ERR_NOT_SERIALIZABLE';
  constructor(what: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`${what} cannot be serialized: ${reason}`, { cause });
    this.name = new.target.name;
  }
}
