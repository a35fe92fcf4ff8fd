import { MalformedRecordError } from '../errors.js';
import { packValue, unpackValue } from './structured.js';

/**
 * One value (a service call's argument array, its result, an Envelope's payload), with a fast
 * path for the small values calls carry most.
 *
 * The common subset — undefined, null, booleans, numbers, strings, bigints below 2^64, Dates,
 * dense arrays, plain objects, typed arrays and Buffers — is written and read here in the
 * `v8.serialize` format (Node's DefaultSerializer's bytes; `v8.deserialize` reads them): for
 * `['k', 42]` that costs a third of what a MessagePack encoder's per-call setup does (see README,
 * "The value codec"). Anything else (Map, Set, RegExp, errors, shared references, cycles, ...)
 * goes to the structured-clone codec (structured.ts: MessagePack), behind a one-byte tag
 * (STRUCTURED_TAG), so no `node:v8` is needed: the module runs in a browser worker too (without
 * Node's Buffer, every value takes the structured path).
 *
 * Encoding is two-phase so that bytes can go straight into a claimed ring frame: `prepare(value)`
 * walks the value once (reading each property once, getters included) into a plan and returns
 * the exact byte length; `writeInto(target, offset)` then copies, running no user code — a claim
 * is never held while user code runs. A typed array's bytes are copied once, from the caller's
 * array into the frame. Decoding copies them once more, out of the frame, into a fresh array:
 * frames are recycled as soon as they are read, so a view into the ring would not stay valid.
 */

const VERSION_TAG = 0xff;
const VERSION = 0x0f;
/** First byte of a value written by the structured-clone codec (MessagePack follows). */
const STRUCTURED_TAG = 0x4d; // M

/** Node's Buffer, where there is one (the fast path's string copies use it). */
const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;

const T_PADDING = 0x00;
const T_UNDEFINED = 0x5f; // _
const T_NULL = 0x30; // 0
const T_TRUE = 0x54; // T
const T_FALSE = 0x46; // F
const T_INT32 = 0x49; // I
const T_UINT32 = 0x55; // U
const T_DOUBLE = 0x4e; // N
const T_BIGINT = 0x5a; // Z
const T_ONE_BYTE_STRING = 0x22; // "
const T_TWO_BYTE_STRING = 0x63; // c
const T_UTF8_STRING = 0x53; // S
const T_DATE = 0x44; // D
const T_BEGIN_DENSE_ARRAY = 0x41; // A
const T_END_DENSE_ARRAY = 0x24; // $
const T_BEGIN_OBJECT = 0x6f; // o
const T_END_OBJECT = 0x7b; // {
const T_HOST_OBJECT = 0x5c; // \

// Plan opcodes.
const OP_BYTE = 0; // one tag byte: num = the tag
const OP_INT = 1; // num = the int32
const OP_DOUBLE = 2; // T_DOUBLE + num
const OP_LATIN1 = 3; // ref = the string, num = its length
const OP_TWO_BYTE = 4; // ref = the string, num = its length
const OP_BIGINT = 5; // ref = the bigint
const OP_DATE = 6; // num = the time value
const OP_BEGIN_ARRAY = 7; // num = length
const OP_END_ARRAY = 8; // num = length
const OP_END_OBJECT = 9; // num = property count
const OP_VIEW = 10; // ref = the view, num = its type index
const OP_RAW = 11; // ref = the bytes of a whole v8.serialize result (the fallback)

/** Node's DefaultSerializer type indexes for array buffer views (lib/v8.js). */
const VIEW_TYPES: readonly (new (buffer: ArrayBuffer, byteOffset: number, length: number) => ArrayBufferView)[] = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  DataView as never,
  (NodeBuffer ?? class NoBuffer {}) as never,
  BigInt64Array,
  BigUint64Array,
];
const BUFFER_INDEX = 10;
const DATAVIEW_INDEX = 9;
const viewIndex = new Map<unknown, number>(VIEW_TYPES.map((ctor, i) => [ctor, i]));

const MAX_CONTAINERS = 256;
const MAX_DEPTH = 64;
const U64 = (1n << 64n) - 1n;

const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);
const scratchU64 = new BigUint64Array(scratch.buffer);

/**
 * Plan-based encoder; one per thread is enough (not re-entrant: prepare, then write, then reuse).
 * After `prepare` it is a codec PayloadWriter (`byteLength`, `writeInto`): pass it to
 * writeServiceRequest / writeServiceResponse, which write it straight into the claimed frame.
 */
export class PayloadEncoder {
  private ops: number[] = [];
  private nums: number[] = [];
  private refs: unknown[] = [];
  private count = 0;
  private size = 0;
  private containers: unknown[] = [];
  private containerCount = 0;
  private depth = 0;
  private planning = false;
  /**
   * Most argument lists are a few numbers and short strings, and most results one such value:
   * those skip the plan. Their values, read once, wait here (`scalarCount` of them, the elements
   * of an array when `scalarArray`) and are written straight from here — the same bytes the plan
   * would write, for a third of the work. -1: the plan holds the value.
   */
  private readonly scalars: unknown[] = [];
  private scalarCount = -1;
  private scalarArray = false;

  /** This encoder, or a fresh one when this one is busy (a getter in a value made a call of its own). */
  static forUse(shared: PayloadEncoder): PayloadEncoder {
    return shared.planning ? new PayloadEncoder() : shared;
  }

  /**
   * Plans the encoding of `value` and returns its exact byte length. Throws UnserializableValueError
   * (a TypeError, ERR_NOT_SERIALIZABLE) for what structured clone refuses: functions, symbols, ...
   */
  prepare(value: unknown, what = 'the value'): number {
    // (`what` only names the value in the error; pass a constant: a template string would be made per call.)
    this.count = 0;
    this.size = 2;
    this.containerCount = 0;
    this.depth = 0;
    this.scalarCount = -1;
    let fast: boolean;
    this.planning = true;
    try {
      fast = NodeBuffer !== undefined && this.planTop(value);
    } catch (error) {
      this.clearScalars(); // a getter threw: keep none of the values read
      throw error;
    } finally {
      this.planning = false;
      // Drop references to the caller's containers (only those used this time).
      for (let i = 0; i < this.containerCount; i++) this.containers[i] = undefined;
      this.containerCount = 0;
    }
    if (!fast) {
      this.clearScalars();
      let bytes: Uint8Array;
      try {
        bytes = encodeStructured(value, what);
      } catch (error) {
        this.clearRefs();
        throw error;
      }
      this.count = 0;
      this.push(OP_RAW, bytes.length, bytes);
      this.size = bytes.length;
    }
    return this.size;
  }

  /** Bytes the prepared value takes. */
  get byteLength(): number {
    return this.size;
  }

  /** Writes the prepared bytes at `target[offset]`; returns the offset after them. */
  writeInto(target: Uint8Array, offset: number): number {
    if (this.scalarCount >= 0) return this.writeScalars(target, offset);
    const ops = this.ops;
    const nums = this.nums;
    const refs = this.refs;
    const n = this.count;
    let p = offset;
    if (n === 1 && ops[0] === OP_RAW) {
      const raw = refs[0] as Uint8Array;
      target.set(raw, p);
      this.clearRefs();
      return p + raw.length;
    }
    target[p++] = VERSION_TAG;
    target[p++] = VERSION;
    for (let i = 0; i < n; i++) {
      const num = nums[i]!;
      switch (ops[i]) {
        case OP_BYTE:
          target[p++] = num;
          break;
        case OP_INT:
          target[p++] = T_INT32;
          p = writeVarint(target, p, ((num << 1) ^ (num >> 31)) >>> 0);
          break;
        case OP_DOUBLE:
          target[p++] = T_DOUBLE;
          p = writeDouble(target, p, num);
          break;
        case OP_LATIN1: {
          const s = refs[i] as string;
          target[p++] = T_ONE_BYTE_STRING;
          p = writeVarint(target, p, num);
          if (num <= 32) {
            for (let c = 0; c < num; c++) target[p + c] = s.charCodeAt(c);
          } else {
            bufferOver(target).write(s, target.byteOffset + p, num, 'latin1');
          }
          p += num;
          break;
        }
        case OP_TWO_BYTE: {
          const s = refs[i] as string;
          target[p++] = T_TWO_BYTE_STRING;
          p = writeVarint(target, p, num * 2);
          if (num <= 32) {
            for (let c = 0; c < num; c++) {
              const code = s.charCodeAt(c);
              target[p + 2 * c] = code & 0xff;
              target[p + 2 * c + 1] = code >>> 8;
            }
          } else {
            bufferOver(target).write(s, target.byteOffset + p, num * 2, 'utf16le');
          }
          p += num * 2;
          break;
        }
        case OP_BIGINT: {
          const b = refs[i] as bigint;
          target[p++] = T_BIGINT;
          if (b === 0n) {
            target[p++] = 0;
          } else {
            target[p++] = (8 << 1) | (b < 0n ? 1 : 0);
            scratchU64[0] = b < 0n ? -b : b;
            for (let c = 0; c < 8; c++) target[p + c] = scratchBytes[c]!;
            p += 8;
          }
          break;
        }
        case OP_DATE:
          target[p++] = T_DATE;
          p = writeDouble(target, p, num);
          break;
        case OP_BEGIN_ARRAY:
          target[p++] = T_BEGIN_DENSE_ARRAY;
          p = writeVarint(target, p, num);
          break;
        case OP_END_ARRAY:
          target[p++] = T_END_DENSE_ARRAY;
          target[p++] = 0;
          p = writeVarint(target, p, num);
          break;
        case OP_END_OBJECT:
          target[p++] = T_END_OBJECT;
          p = writeVarint(target, p, num);
          break;
        case OP_VIEW: {
          const view = refs[i] as ArrayBufferView;
          target[p++] = T_HOST_OBJECT;
          target[p++] = num;
          p = writeVarint(target, p, view.byteLength);
          target.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), p);
          p += view.byteLength;
          break;
        }
      }
    }
    this.clearRefs();
    return p;
  }

  /** `prepare` + `writeInto` a fresh Uint8Array (for callers that need the bytes on their own). */
  encode(value: unknown, what?: string): Uint8Array {
    const out = new Uint8Array(this.prepare(value, what));
    this.writeInto(out, 0);
    return out;
  }

  private writeScalars(target: Uint8Array, offset: number): number {
    const values = this.scalars;
    const n = this.scalarCount;
    let p = offset;
    target[p++] = VERSION_TAG;
    target[p++] = VERSION;
    if (!this.scalarArray) {
      p = writeScalar(target, p, values[0]);
    } else {
      target[p++] = T_BEGIN_DENSE_ARRAY;
      p = writeVarint(target, p, n);
      for (let i = 0; i < n; i++) p = writeScalar(target, p, values[i]);
      target[p++] = T_END_DENSE_ARRAY;
      target[p++] = 0;
      p = writeVarint(target, p, n);
    }
    this.clearScalars();
    return p;
  }

  private clearScalars(): void {
    const n = this.scalarArray ? this.scalarCount : 1;
    for (let i = 0; i < n; i++) this.scalars[i] = undefined;
    this.scalarCount = -1;
  }

  private clearRefs(): void {
    // Drop references so the encoder does not keep the caller's values alive.
    const refs = this.refs;
    for (let i = 0; i < this.count; i++) refs[i] = undefined;
    this.count = 0;
  }

  private push(op: number, num: number, ref?: unknown): void {
    const i = this.count++;
    this.ops[i] = op;
    this.nums[i] = num;
    this.refs[i] = ref;
  }

  /**
   * The top-level value: a scalar, or an array whose elements are scalars, goes to `scalars`;
   * anything else to the plan. An array's elements are read once either way: when one is not a
   * scalar, the plan goes on from the ones read so far.
   */
  private planTop(value: unknown): boolean {
    if (!Array.isArray(value)) {
      const size = scalarSize(value);
      if (size < 0) return this.plan(value);
      this.scalars[0] = value;
      this.scalarCount = 1;
      this.scalarArray = false;
      this.size += size;
      return true;
    }
    this.containers[0] = value;
    this.containerCount = 1;
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    const n = value.length;
    const scalars = this.scalars;
    this.scalarArray = true;
    let size = 0;
    for (let i = 0; i < n; i++) {
      const element: unknown = value[i];
      if (element === undefined && !(i in value)) return false; // a hole
      scalars[i] = element;
      this.scalarCount = i + 1; // (so that a failure clears what was kept)
      const elementSize = scalarSize(element);
      if (elementSize < 0) {
        const planned = this.planElements(value, n, i + 1);
        this.clearScalars();
        return planned;
      }
      size += elementSize;
    }
    this.scalarCount = n;
    this.size += 1 + varintLength(n) + size + 2 + varintLength(n);
    return true;
  }

  /** False when the value needs the general serializer. */
  private plan(value: unknown): boolean {
    switch (typeof value) {
      case 'undefined':
        this.push(OP_BYTE, T_UNDEFINED);
        this.size += 1;
        return true;
      case 'boolean':
        this.push(OP_BYTE, value ? T_TRUE : T_FALSE);
        this.size += 1;
        return true;
      case 'number':
        if ((value | 0) === value && !Object.is(value, -0)) {
          this.push(OP_INT, value);
          this.size += 1 + varintLength(((value << 1) ^ (value >> 31)) >>> 0);
        } else {
          this.push(OP_DOUBLE, value);
          this.size += 9;
        }
        return true;
      case 'string':
        return this.planString(value);
      case 'bigint':
        if (value > U64 || value < -U64) return false;
        this.push(OP_BIGINT, 0, value);
        this.size += value === 0n ? 2 : 10;
        return true;
      case 'object':
        if (value === null) {
          this.push(OP_BYTE, T_NULL);
          this.size += 1;
          return true;
        }
        return this.planObject(value);
      default:
        return false; // function, symbol: the structured codec throws the right error
    }
  }

  private planString(s: string): boolean {
    const n = s.length;
    let oneByte = true;
    if (n <= 32) {
      for (let i = 0; i < n; i++) {
        if (s.charCodeAt(i) > 0xff) {
          oneByte = false;
          break;
        }
      }
    } else {
      oneByte = !NOT_LATIN1.test(s);
    }
    if (oneByte) {
      this.push(OP_LATIN1, n, s);
      this.size += 1 + varintLength(n) + n;
    } else {
      this.push(OP_TWO_BYTE, n, s);
      this.size += 1 + varintLength(n * 2) + n * 2;
    }
    return true;
  }

  private planObject(value: object): boolean {
    const containers = this.containers;
    const n = this.containerCount;
    if (n >= MAX_CONTAINERS || this.depth >= MAX_DEPTH) return false;
    // A value seen twice must keep its identity (or is a cycle): the general serializer does that.
    for (let i = 0; i < n; i++) if (containers[i] === value) return false;
    containers[n] = value;
    this.containerCount = n + 1;
    if (Array.isArray(value)) return this.planArray(value);
    if (ArrayBuffer.isView(value)) return this.planView(value);
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) return this.planPlainObject(value as Record<string, unknown>);
    if (proto === Date.prototype) {
      this.push(OP_DATE, (value as Date).getTime());
      this.size += 9;
      return true;
    }
    return false;
  }

  private planArray(array: unknown[]): boolean {
    if (Object.getPrototypeOf(array) !== Array.prototype) return false;
    return this.planElements(array, array.length, 0);
  }

  /** Plans the `n` elements of `array`, of which the first `read` were read already, into `scalars`. */
  private planElements(array: unknown[], n: number, read: number): boolean {
    this.push(OP_BEGIN_ARRAY, n);
    this.size += 1 + varintLength(n);
    this.depth++;
    for (let i = 0; i < n; i++) {
      let element: unknown;
      if (i < read) {
        element = this.scalars[i];
      } else {
        element = array[i];
        if (element === undefined && !(i in array)) return false; // a hole
      }
      if (!this.plan(element)) return false;
    }
    this.depth--;
    this.push(OP_END_ARRAY, n);
    this.size += 2 + varintLength(n);
    return true;
  }

  private planPlainObject(object: Record<string, unknown>): boolean {
    const keys = Object.keys(object);
    this.push(OP_BYTE, T_BEGIN_OBJECT);
    this.size += 1;
    this.depth++;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      this.planString(key);
      if (!this.plan(object[key])) return false;
    }
    this.depth--;
    this.push(OP_END_OBJECT, keys.length);
    this.size += 1 + varintLength(keys.length);
    return true;
  }

  private planView(view: ArrayBufferView): boolean {
    let index = viewIndex.get(view.constructor);
    if (index === undefined) {
      if (NodeBuffer === undefined || !NodeBuffer.isBuffer(view)) return false;
      index = BUFFER_INDEX;
    }
    if (index === DATAVIEW_INDEX) return false;
    this.push(OP_VIEW, index, view);
    this.size += 2 + varintLength(view.byteLength) + view.byteLength;
    return true;
  }
}

const NOT_LATIN1 = /[^\u0000-\u00ff]/;

/** Bytes a scalar takes written straight (see PayloadEncoder.scalars), or -1 for any other value. */
function scalarSize(value: unknown): number {
  switch (typeof value) {
    case 'number':
      return (value | 0) === value && !Object.is(value, -0) ? 1 + varintLength(((value << 1) ^ (value >> 31)) >>> 0) : 9;
    case 'boolean':
    case 'undefined':
      return 1;
    case 'string': {
      const n = value.length;
      if (n > 32) return -1;
      for (let i = 0; i < n; i++) if (value.charCodeAt(i) > 0xff) return -1;
      return 2 + n; // tag, length (one varint byte up to 127), the Latin-1 bytes
    }
    case 'object':
      return value === null ? 1 : -1;
    default:
      return -1;
  }
}

/** Writes a scalar that scalarSize measured; returns the offset after it. Same bytes as the plan's ops. */
function writeScalar(target: Uint8Array, p: number, value: unknown): number {
  switch (typeof value) {
    case 'number':
      if ((value | 0) === value && !Object.is(value, -0)) {
        target[p++] = T_INT32;
        return writeVarint(target, p, ((value << 1) ^ (value >> 31)) >>> 0);
      }
      target[p++] = T_DOUBLE;
      return writeDouble(target, p, value);
    case 'boolean':
      target[p++] = value ? T_TRUE : T_FALSE;
      return p;
    case 'undefined':
      target[p++] = T_UNDEFINED;
      return p;
    case 'string': {
      const n = value.length;
      target[p++] = T_ONE_BYTE_STRING;
      target[p++] = n;
      for (let c = 0; c < n; c++) target[p + c] = value.charCodeAt(c);
      return p + n;
    }
    default:
      target[p++] = T_NULL;
      return p;
  }
}

/**
 * Reads a payload written by PayloadEncoder (or, for the subset it covers, by v8.serialize) from
 * `source[start, end)`. The result never aliases `source`: everything is copied out.
 */
export class PayloadDecoder {
  private src: Uint8Array = EMPTY;
  private pos = 0;
  private end = 0;
  private failed = false;

  decode(source: Uint8Array, start: number, end: number): unknown {
    if (end - start < 2 || source[start] !== VERSION_TAG || source[start + 1] !== VERSION) return this.fallback(source, start, end);
    this.src = source;
    this.pos = start + 2;
    this.end = end;
    this.failed = false;
    const value = this.readValue(0);
    const ok = !this.failed && this.pos === end;
    this.src = EMPTY;
    return ok ? value : this.fallback(source, start, end);
  }

  private fallback(source: Uint8Array, start: number, end: number): unknown {
    if (end > start && source[start] === STRUCTURED_TAG) return unpackValue(source.slice(start + 1, end));
    throw new MalformedRecordError(`a value of ${end - start} bytes in neither of the value codec's forms`);
  }

  private fail(): undefined {
    this.failed = true;
    this.pos = this.end;
    return undefined;
  }

  private readValue(depth: number): unknown {
    if (depth > MAX_DEPTH) return this.fail();
    const src = this.src;
    let tag: number;
    do {
      if (this.pos >= this.end) return this.fail();
      tag = src[this.pos++]!;
    } while (tag === T_PADDING);
    switch (tag) {
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_TRUE:
        return true;
      case T_FALSE:
        return false;
      case T_INT32: {
        const z = this.readVarint();
        return (z >>> 1) ^ -(z & 1);
      }
      case T_UINT32:
        return this.readVarint();
      case T_DOUBLE:
        return this.readDouble();
      case T_ONE_BYTE_STRING:
        return this.readLatin1(this.readVarint());
      case T_TWO_BYTE_STRING:
        return this.readTwoByte(this.readVarint());
      case T_UTF8_STRING: {
        const n = this.readVarint();
        if (this.pos + n > this.end) return this.fail();
        const s = bufferOver(src).toString('utf8', src.byteOffset + this.pos, src.byteOffset + this.pos + n);
        this.pos += n;
        return s;
      }
      case T_BIGINT:
        return this.readBigInt();
      case T_DATE:
        return new Date(this.readDouble());
      case T_BEGIN_DENSE_ARRAY:
        return this.readArray(depth);
      case T_BEGIN_OBJECT:
        return this.readObject(depth);
      case T_HOST_OBJECT:
        return this.readView();
      default:
        return this.fail(); // sparse arrays, maps, sets, references, ...: the general path
    }
  }

  private readVarint(): number {
    const src = this.src;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end || shift > 28) {
        this.fail();
        return 0;
      }
      const b = src[this.pos++]!;
      result |= (b & 0x7f) << shift;
      if (b < 0x80) return result >>> 0;
      shift += 7;
    }
  }

  private readDouble(): number {
    if (this.pos + 8 > this.end) return this.fail() ?? NaN;
    const src = this.src;
    for (let i = 0; i < 8; i++) scratchBytes[i] = src[this.pos + i]!;
    this.pos += 8;
    return scratch[0]!;
  }

  private readLatin1(n: number): string | undefined {
    if (this.pos + n > this.end) return this.fail();
    const src = this.src;
    const p = this.pos;
    this.pos += n;
    if (n <= 24) {
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(src[p + i]!);
      return s;
    }
    return bufferOver(src).toString('latin1', src.byteOffset + p, src.byteOffset + p + n);
  }

  private readTwoByte(bytes: number): string | undefined {
    if (this.pos + bytes > this.end || (bytes & 1) !== 0) return this.fail();
    const src = this.src;
    const p = this.pos;
    this.pos += bytes;
    if (bytes <= 48) {
      let s = '';
      for (let i = 0; i < bytes; i += 2) s += String.fromCharCode(src[p + i]! | (src[p + i + 1]! << 8));
      return s;
    }
    return bufferOver(src).toString('utf16le', src.byteOffset + p, src.byteOffset + p + bytes);
  }

  private readBigInt(): bigint | undefined {
    const bitfield = this.readVarint();
    const bytes = bitfield >>> 1;
    if (bytes === 0) return 0n;
    if (bytes % 8 !== 0 || this.pos + bytes > this.end) return this.fail();
    const src = this.src;
    let value = 0n;
    for (let word = bytes / 8 - 1; word >= 0; word--) {
      for (let i = 0; i < 8; i++) scratchBytes[i] = src[this.pos + word * 8 + i]!;
      value = (value << 64n) | scratchU64[0]!;
    }
    this.pos += bytes;
    return bitfield & 1 ? -value : value;
  }

  private readArray(depth: number): unknown[] | undefined {
    const n = this.readVarint();
    if (n > this.end - this.pos) return this.fail(); // each element takes at least one byte
    const array = new Array<unknown>(n);
    for (let i = 0; i < n && !this.failed; i++) array[i] = this.readValue(depth + 1);
    // Named properties may follow the elements, then `$ props length`.
    while (!this.failed) {
      if (this.pos >= this.end) return this.fail();
      if (this.src[this.pos] === T_END_DENSE_ARRAY) {
        this.pos++;
        this.readVarint();
        this.readVarint();
        return array;
      }
      const key = this.readValue(depth + 1);
      (array as unknown as Record<string, unknown>)[key as string] = this.readValue(depth + 1);
    }
    return undefined;
  }

  private readObject(depth: number): Record<string, unknown> | undefined {
    const object: Record<string, unknown> = {};
    while (!this.failed) {
      if (this.pos >= this.end) return this.fail();
      if (this.src[this.pos] === T_END_OBJECT) {
        this.pos++;
        this.readVarint();
        return object;
      }
      const key = this.readValue(depth + 1);
      if (typeof key !== 'string' && typeof key !== 'number') return this.fail();
      const value = this.readValue(depth + 1);
      if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      else object[key] = value;
    }
    return undefined;
  }

  private readView(): ArrayBufferView | undefined {
    const index = this.readVarint();
    const byteLength = this.readVarint();
    const ctor = VIEW_TYPES[index];
    if (ctor === undefined || index === DATAVIEW_INDEX || this.pos + byteLength > this.end) return this.fail();
    const bytesPerElement = (ctor as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    if (byteLength % bytesPerElement !== 0) return this.fail();
    const src = this.src;
    const copy = new ArrayBuffer(byteLength);
    new Uint8Array(copy).set(src.subarray(this.pos, this.pos + byteLength));
    this.pos += byteLength;
    if (index === BUFFER_INDEX) return NodeBuffer!.from(copy);
    return new ctor(copy, 0, byteLength / bytesPerElement);
  }
}

const EMPTY = new Uint8Array(0);

function varintLength(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

function writeVarint(target: Uint8Array, p: number, value: number): number {
  while (value >= 0x80) {
    target[p++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  target[p++] = value;
  return p;
}

function writeDouble(target: Uint8Array, p: number, value: number): number {
  scratch[0] = value;
  for (let i = 0; i < 8; i++) target[p + i] = scratchBytes[i]!;
  return p + 8;
}

// A Buffer over the whole underlying (Shared)ArrayBuffer of the last target, for Buffer's native
// latin1/utf16 string copies (long strings). Offsets into it are absolute in the underlying buffer.
let lastBacking: ArrayBufferLike | undefined;
let lastBuffer: Buffer | undefined;
function bufferOver(bytes: Uint8Array): Buffer {
  if (bytes.buffer !== lastBacking || lastBuffer === undefined) {
    lastBacking = bytes.buffer;
    lastBuffer = NodeBuffer!.from(bytes.buffer, 0, bytes.buffer.byteLength);
  }
  return lastBuffer;
}

/** A value in the structured-clone codec's form, tagged: bytes of its own. */
export function encodeStructured(value: unknown, what: string): Uint8Array {
  const packed = packValue(value, what);
  const bytes = new Uint8Array(packed.length + 1);
  bytes[0] = STRUCTURED_TAG;
  bytes.set(packed, 1);
  return bytes;
}

/** A shared encoder/decoder pair per thread (they are not re-entrant, but nothing here awaits between prepare and write). */
export const payloadEncoder = new PayloadEncoder();
export const payloadDecoder = new PayloadDecoder();
