import { BufferTooSmallError, MisalignedOffsetError, ValueOutOfRangeError } from './errors.js';
import { RECORD_ALIGNMENT } from './layout.js';

// FlatBuffers is little-endian and the in-place writers and zero-copy views use native typed
// arrays, so a big-endian host would silently read garbage. Node's supported platforms are all
// little-endian; refuse loudly rather than corrupt records if that ever changes.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('ringflow/codec requires a little-endian host');
}

/** Writers index typed arrays with `>>> 2` / `>>> 3`, which is exact below 4 GiB. */
const MAX_BYTE_POSITION = 2 ** 32;

/**
 * A caller's Uint8Array (a ring's data region, say) with what the writers need about it: its
 * byteOffset and typed-array views over its whole underlying buffer, made once and reused for every
 * record. Looking these up per record would cost more than writing a small record: in Node 20,
 * `byteOffset`, `byteLength` and `buffer` of a typed array are calls, not field loads, while
 * `length` is a field load.
 */
export interface Region {
  readonly bytes: Uint8Array;
  readonly byteOffset: number;
  /** Byte position in the buffer where the views end (a growable buffer can grow past it). */
  readonly viewsEnd: number;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
  readonly u64: BigUint64Array;
  readonly i64: BigInt64Array;
}

// A writer targets the same region many times in a row: check the last one first, then a WeakMap
// (which lets a dropped buffer be collected).
let lastRegion: Region | undefined;
const regions = new WeakMap<Uint8Array, Region>();

export function regionOf(bytes: Uint8Array): Region {
  if (lastRegion !== undefined && lastRegion.bytes === bytes) return lastRegion;
  let region = regions.get(bytes);
  if (region === undefined) {
    region = makeRegion(bytes);
    regions.set(bytes, region);
  }
  lastRegion = region;
  return region;
}

function makeRegion(bytes: Uint8Array): Region {
  const buffer = bytes.buffer;
  const reach = Math.min(buffer.byteLength, MAX_BYTE_POSITION);
  const words = Math.floor(reach / 4);
  const doubles = Math.floor(reach / 8);
  return {
    bytes,
    byteOffset: bytes.byteOffset,
    viewsEnd: doubles * 8,
    u8: new Uint8Array(buffer, 0, doubles * 8),
    i32: new Int32Array(buffer, 0, words),
    u32: new Uint32Array(buffer, 0, words),
    f32: new Float32Array(buffer, 0, words),
    f64: new Float64Array(buffer, 0, doubles),
    u64: new BigUint64Array(buffer, 0, doubles),
    i64: new BigInt64Array(buffer, 0, doubles),
  };
}

/**
 * Checks that `size` bytes at `offset` of `bytes` fit in it and start on a record boundary of the
 * underlying buffer; returns that start as a byte position in the underlying buffer, which
 * `regionOf(bytes)` (called after this) can then address.
 */
export function claimRegion(bytes: Uint8Array, offset: number, size: number): number {
  if (!Number.isInteger(offset) || offset < 0) {
    throw new ValueOutOfRangeError(`offset must be a non-negative integer, got ${offset}`);
  }
  const available = bytes.length - offset;
  if (size > available) throw new BufferTooSmallError(size, Math.max(0, available));
  const region = regionOf(bytes);
  const start = region.byteOffset + offset;
  if ((start & (RECORD_ALIGNMENT - 1)) !== 0) throw new MisalignedOffsetError(start, RECORD_ALIGNMENT);
  if (start + size > region.viewsEnd) remakeViews(bytes, start + size);
  return start;
}

/**
 * The region of `bytes`, checked once for a writer that then places records in it by itself
 * (stampServiceRequest, stampServiceResponse): `bytes` starts on a record boundary and the views
 * cover all of it, so any record-aligned offset within `bytes` needs no check per record.
 */
export function wholeRegion(bytes: Uint8Array): Region {
  claimRegion(bytes, 0, bytes.length);
  return regionOf(bytes);
}

/** The buffer grew since the views were made (a growable SharedArrayBuffer), or is over 4 GiB. */
function remakeViews(bytes: Uint8Array, end: number): void {
  const region = makeRegion(bytes);
  if (end > region.viewsEnd) {
    throw new ValueOutOfRangeError('records must lie within the first 4 GiB of their buffer');
  }
  regions.set(bytes, region);
  lastRegion = region;
}

/**
 * Copies numbers into `target` from index `at`. TypedArray.prototype.set has a fixed cost that a
 * plain loop beats for a handful of elements (measured crossover: about 8), so small vectors loop.
 */
export function storeElements(target: Float32Array | Float64Array, at: number, source: ArrayLike<number>): void {
  const length = source.length;
  if (length > 8) {
    target.set(source, at);
    return;
  }
  for (let i = 0; i < length; i++) target[at + i] = source[i]!;
}

/** Zeroes bytes [from, to) of the region's buffer: padding, so that no stale ring bytes stay in a record. */
export function zeroBytes(region: Region, from: number, to: number): void {
  const u8 = region.u8;
  for (let i = from; i < to; i++) u8[i] = 0;
}

let scratch = new Uint8Array(4096);

/**
 * Lets `write` put a record of `size` bytes at offset 0 of a reused buffer and returns a copy of
 * it. The encode* conveniences use it: writing into a new array each time would make and cache
 * that array's views (above) for a single record, which costs more than the copy.
 */
export function encodeToNewArray(size: number, write: (target: Uint8Array) => void): Uint8Array {
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, scratch.length * 2));
  write(scratch);
  return scratch.slice(0, size);
}
