import { InvalidArgumentError } from '../errors.js';

/**
 * Where a primitive lives: enough to rebuild it in another thread. Plain data, so it passes through
 * postMessage / workerData (the SharedArrayBuffer is shared, not copied).
 */
export interface SyncHandle {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
}

/** The largest value an Int32 word can count up to. */
export const MAX_COUNT = 0x7fff_ffff;

/**
 * An Int32Array over `bytes` bytes of `buffer` at `byteOffset`, after checking the placement:
 * a real SharedArrayBuffer, a 4-aligned offset (Atomics needs aligned words), and room for all words.
 */
export function wordsAt(buffer: unknown, byteOffset: unknown, bytes: number, what: string): Int32Array {
  if (!(buffer instanceof SharedArrayBuffer)) {
    throw new InvalidArgumentError(`${what}: buffer must be a SharedArrayBuffer`);
  }
  if (typeof byteOffset !== 'number' || !Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0) {
    throw new InvalidArgumentError(`${what}: byteOffset must be a non-negative multiple of 4, got ${String(byteOffset)}`);
  }
  if (byteOffset + bytes > buffer.byteLength) {
    throw new InvalidArgumentError(
      `${what}: needs ${bytes} bytes at byteOffset ${byteOffset}, but the buffer has only ${buffer.byteLength}`,
    );
  }
  return new Int32Array(buffer, byteOffset, bytes / 4);
}

/** Checks a handle received from another thread and returns its parts. */
export function unpackHandle(handle: unknown, what: string): SyncHandle {
  if (handle === null || typeof handle !== 'object') {
    throw new InvalidArgumentError(`${what}: handle must be an object { buffer, byteOffset }`);
  }
  const { buffer, byteOffset } = handle as Record<string, unknown>;
  return { buffer: buffer as SharedArrayBuffer, byteOffset: byteOffset as number };
}

/** The handle an instance exposes; frozen so sharing it cannot move the instance. */
export function makeHandle(buffer: SharedArrayBuffer, byteOffset: number): SyncHandle {
  return Object.freeze({ buffer, byteOffset });
}

/** Checks a count argument: an integer in [min, MAX_COUNT]. */
export function checkCount(value: unknown, min: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_COUNT) {
    throw new InvalidArgumentError(`${what} must be an integer in [${min}, ${MAX_COUNT}], got ${String(value)}`);
  }
  return value;
}
