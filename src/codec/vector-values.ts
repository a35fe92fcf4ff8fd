import { DimensionMismatchError, InvalidValueError, ValueOutOfRangeError } from './errors.js';
import type { VectorArray } from './dtype.js';

/**
 * Largest dim, batch count, or count × dim of a batch accepted (64 Mi elements). Together with
 * MAX_PAYLOAD_BYTES it keeps every record under 2 GiB, so positions inside one are int32 (and
 * records that large exceed the largest ring frame, 512 MiB, anyway).
 */
export const MAX_ELEMENTS = 2 ** 26 - 1;

/** Throws unless `value` is an integer in [0, MAX_ELEMENTS]. */
export function checkElementCount(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_ELEMENTS) {
    throw new ValueOutOfRangeError(`${what} must be an integer in [0, ${MAX_ELEMENTS}], got ${String(value)}`);
  }
}

/**
 * Throws unless `values` holds exactly `expectedLength` numbers. Float32Array and Float64Array pass
 * on their length alone (the hot path); a plain array is checked element by element before anything
 * is written, so a bad element never leaves a half-written record in a ring.
 */
export function checkVectorValues(
  values: unknown,
  expectedLength: number,
  what: string,
): asserts values is VectorArray | ArrayLike<number> {
  if (values instanceof Float32Array || values instanceof Float64Array) {
    if (values.length !== expectedLength) throw new DimensionMismatchError(expectedLength, values.length, what);
    return;
  }
  if (typeof values !== 'object' || values === null || typeof (values as { length?: unknown }).length !== 'number') {
    throw new InvalidValueError(`${what} must be a Float32Array, a Float64Array or an array of numbers`);
  }
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    throw new InvalidValueError(`${what} must hold numbers, not bigints`);
  }
  const list = values as ArrayLike<unknown>;
  if (list.length !== expectedLength) throw new DimensionMismatchError(expectedLength, list.length, what);
  if (ArrayBuffer.isView(list)) return; // any other numeric typed array
  for (let i = 0; i < list.length; i++) {
    if (typeof list[i] !== 'number') {
      throw new InvalidValueError(`${what}[${i}] is ${describe(list[i])}, expected a number`);
    }
  }
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value;
}
