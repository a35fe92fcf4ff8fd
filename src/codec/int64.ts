import { InvalidValueError, ValueOutOfRangeError } from './errors.js';
import type { Region } from './memory.js';

const TWO_POW_32 = 2 ** 32;
/** The largest uint64, for range checks (a constant: computing it per check allocates a BigInt). */
export const UINT64_MAX = 2n ** 64n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN_NUMBER = -(2 ** 63);
const INT64_LIMIT_NUMBER = 2 ** 63; // exclusive

/** Throws unless `value` is a bigint in [0, 2^64). A typed array would otherwise wrap it silently. */
export function checkUint64(value: unknown, what: string): asserts value is bigint {
  if (typeof value !== 'bigint') throw new InvalidValueError(`${what} must be a bigint, got ${typeof value}`);
  if (value < 0n || value > UINT64_MAX) throw new ValueOutOfRangeError(`${what} must be in [0, 2^64), got ${value}`);
}

/** Throws unless `value` is a bigint in the int64 range or an integer number in it. */
export function checkInt64(value: unknown, what: string): asserts value is bigint | number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < INT64_MIN_NUMBER || value >= INT64_LIMIT_NUMBER) {
      throw new ValueOutOfRangeError(`${what} must be an integer in the int64 range, got ${value}`);
    }
    return;
  }
  if (typeof value !== 'bigint') {
    throw new InvalidValueError(`${what} must be a number or a bigint, got ${typeof value}`);
  }
  if (value < INT64_MIN || value > INT64_MAX) {
    throw new ValueOutOfRangeError(`${what} must be in the int64 range, got ${value}`);
  }
}

/** Throws unless `value` is an integer in [0, 2^32). */
export function checkUint32(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number') throw new InvalidValueError(`${what} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < 0 || value >= TWO_POW_32) {
    throw new ValueOutOfRangeError(`${what} must be an integer in [0, 2^32), got ${value}`);
  }
}

/**
 * Stores a checked int64 at byte `at` (8-aligned) of the region's buffer. A number is split into two
 * 32-bit halves instead of going through BigInt(), which would allocate on every record; the split
 * is exact for every integer a double can hold.
 */
export function storeInt64(region: Region, at: number, value: bigint | number): void {
  if (typeof value === 'bigint') {
    region.i64[at >>> 3] = value;
    return;
  }
  storeInt64Words(region.i32, at >>> 2, value);
}

/**
 * Stores an integer number (|value| ≤ 2^53) as a little-endian int64 in `words[index]` (low half)
 * and `words[index + 1]` (high half): no BigInt is made.
 */
export function storeInt64Words(words: Int32Array, index: number, value: number): void {
  const high = Math.floor(value / TWO_POW_32);
  words[index] = value - high * TWO_POW_32; // an Int32Array store keeps the low 32 bits
  words[index + 1] = high;
}

/** Reads an int64 as a number (exact up to 2^53; rounded beyond, like Number(bigint)). */
export function loadInt64AsNumber(view: DataView, at: number): number {
  return view.getInt32(at + 4, true) * TWO_POW_32 + view.getUint32(at, true);
}
