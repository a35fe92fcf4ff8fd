import { DimensionMismatchError, InvalidValueError, UINT64_MAX, ValueOutOfRangeError, type VectorArray, type VectorDType } from '../codec/index.js';
import { InvalidArgumentError } from '../errors.js';

/**
 * Stores `vec` (dim finite numbers, converted to the target's type) into `target` at `offset`,
 * or throws. `target` from `offset` is scratch space the caller counts in only when this returns
 * (the next row of a batch): a typed vector is copied first and checked where it landed, which is
 * quicker than checking it first and also catches a Float64 value that overflows a Float32 row.
 */
export function copyVector(vec: unknown, dim: number, target: VectorArray, offset: number): void {
  if (vec instanceof Float32Array || vec instanceof Float64Array) {
    if (vec.length !== dim) throw new DimensionMismatchError(dim, vec.length, 'vector');
    target.set(vec, offset);
    if (!allFinite(target, offset, dim)) throw notStored(vec, target, offset);
    return;
  }
  target.set(checkVector(vec, dim), offset);
  // A finite number can still overflow a Float32 row.
  if (target instanceof Float32Array && !allFinite(target, offset, dim)) throw tooLarge(vec as ArrayLike<number>, target, offset);
}

/**
 * `checkVector`, and for a Float32 target also that every element fits a Float32 (a finite value
 * may round to Infinity there): what a producer in another thread checks before it claims a frame.
 */
export function checkVectorFor(vec: unknown, dim: number, dtype: VectorDType): ArrayLike<number> {
  const values = checkVector(vec, dim);
  if (dtype === 'Float32' && !(values instanceof Float32Array)) {
    for (let i = 0; i < dim; i++) {
      if (!Number.isFinite(Math.fround(values[i]!))) throw new ValueOutOfRangeError(`vector element ${i} (${values[i]}) does not fit a Float32`);
    }
  }
  return values;
}

/** Checks what a user pushes: a vector of `dim` finite numbers; returns it, typed for copying. */
export function checkVector(vec: unknown, dim: number): ArrayLike<number> {
  if (vec === null || typeof vec !== 'object' || typeof (vec as ArrayLike<number>).length !== 'number') {
    throw new InvalidValueError(`push needs a vector (an array or typed array of ${dim} numbers), got ${vec === null ? 'null' : typeof vec}`);
  }
  const values = vec as ArrayLike<unknown>;
  if (values.length !== dim) throw new DimensionMismatchError(dim, values.length, 'vector');
  if (values instanceof Float32Array || values instanceof Float64Array) {
    // Typed floats need no type check, only a finiteness check.
    if (!allFinite(values, 0, dim)) throw notFinite(firstNonFinite(values), values);
    return values;
  }
  for (let i = 0; i < dim; i++) {
    const x = values[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw notFinite(i, values);
  }
  return values as ArrayLike<number>;
}

/**
 * True when no element of `v` in [from, from + n) is NaN or ±Infinity: x * 0 is 0 for a finite x
 * and NaN otherwise. Four independent sums let the loop run about twice as fast as one
 * Number.isFinite per element.
 */
function allFinite(v: Float32Array | Float64Array, from: number, n: number): boolean {
  const end = from + n;
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let i = from;
  for (; i + 3 < end; i += 4) {
    a += v[i]! * 0;
    b += v[i + 1]! * 0;
    c += v[i + 2]! * 0;
    d += v[i + 3]! * 0;
  }
  for (; i < end; i++) a += v[i]! * 0;
  return a + b + c + d === 0;
}

function firstNonFinite(v: ArrayLike<number>, from = 0): number {
  let i = from;
  while (Number.isFinite(v[i])) i++;
  return i - from;
}

/** Why a typed vector copied to `target` at `offset` did not store as finite numbers. */
function notStored(vec: Float32Array | Float64Array, target: VectorArray, offset: number): Error {
  const at = firstNonFinite(target, offset);
  if (!Number.isFinite(vec[at]!)) return notFinite(at, vec);
  return tooLarge(vec, target, offset);
}

function tooLarge(vec: ArrayLike<number>, target: VectorArray, offset: number): ValueOutOfRangeError {
  const at = firstNonFinite(target, offset);
  return new ValueOutOfRangeError(`vector element ${at} (${vec[at]}) does not fit a Float32 (it would be ${target[offset + at]})`);
}

function notFinite(index: number, values: ArrayLike<unknown>): InvalidValueError {
  const x = values[index];
  return new InvalidValueError(`vector element ${index} must be a finite number, got ${typeof x === 'number' ? x : typeof x}`);
}

/** A uid checked to fit the uint64 the records carry; a number stays a number (no BigInt made). */
export function checkUid(uid: unknown): bigint | number {
  if (typeof uid === 'number') {
    if (Number.isSafeInteger(uid) && uid >= 0) return uid;
  } else if (typeof uid === 'bigint') {
    if (uid >= 0n && uid <= UINT64_MAX) return uid;
  }
  throw new InvalidValueError(`uid must be a non-negative integer below 2^64 (a bigint, or a safe integer number), got ${String(uid)}`);
}

/** A uid as the uint64 the records carry. */
export function toUid(uid: unknown): bigint {
  const checked = checkUid(uid);
  return typeof checked === 'bigint' ? checked : BigInt(checked);
}

export function checkDim(dim: unknown): number {
  if (!Number.isInteger(dim) || (dim as number) < 1) throw new InvalidArgumentError(`dim must be a positive integer, got ${String(dim)}`);
  return dim as number;
}

export function checkDType(dtype: unknown): VectorDType {
  if (dtype !== 'Float32' && dtype !== 'Float64') throw new InvalidArgumentError(`dtype must be 'Float32' or 'Float64', got ${String(dtype)}`);
  return dtype;
}
