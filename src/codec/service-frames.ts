import * as flatbuffers from 'flatbuffers';
import { ErrorInfo } from './generated/ringflow/wire/error-info.js';
import { ServiceResponse } from './generated/ringflow/wire/service-response.js';

/**
 * ServiceRequest / ServiceResponse frames written in place, straight into a claimed ring frame,
 * and read in place (schema/records.fbs). The writers lay the table out by hand — one fixed shape
 * per record kind, below — so a call costs a few word stores instead of a flatbuffers Builder run
 * (several microseconds for a small request, most of it copying the args vector byte by byte)
 * plus a copy into the ring. The readers follow the vtable like any FlatBuffers reader, so they
 * read Builder-made records too (error responses are made by the Builder: they are rare).
 *
 * Records start on an 8-byte boundary of the underlying buffer (ring frames do) and their size is
 * a multiple of 8.
 *
 * ServiceRequest (the args vector last, so its bytes can be written after the header):
 * ```
 *   0  u32 root offset = 24
 *   4  vtable: u16 16 (vtable size), u16 32 (table size),
 *              u16 field offsets: id 4, service 20, method 24, args 28, deadline 8, reply_ring 16
 *  20  (4 bytes padding)
 *  24  table: i32 soffset to vtable = 20
 *  28         u32 id
 *  32         f64 deadline
 *  40         u32 reply_ring
 *  44         u32 → service string     (each offset is relative to its own position)
 *  48         u32 → method string
 *  52         u32 → args vector
 *  56  service: u32 length, bytes, NUL, padding to 4
 *      method:  u32 length, bytes, NUL, padding to 4
 *      args:    u32 length, bytes, padding to 8
 * ```
 *
 * ServiceResponse, ok = true:
 * ```
 *   0  u32 root offset = 16
 *   4  vtable: u16 12, u16 16, u16 field offsets: id 4, ok 12, result 8, error 0 (absent)
 *  16  table: i32 soffset = 12
 *  20         u32 id
 *  24         u32 → result vector
 *  28         u8 ok = 1, 3 bytes padding
 *  32  result: u32 length, bytes, padding to 8
 * ```
 */

/**
 * Word views over the buffer of a Uint8Array (a ring's data region), made once per array. In
 * Node 20 `buffer` and `byteOffset` of a typed array are calls, not field loads: look them up once.
 */
interface Region {
  readonly bytes: Uint8Array;
  readonly byteOffset: number;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
}

let lastRegion: Region | undefined;
const regions = new WeakMap<Uint8Array, Region>();

function regionOf(bytes: Uint8Array): Region {
  if (lastRegion !== undefined && lastRegion.bytes === bytes) return lastRegion;
  let region = regions.get(bytes);
  if (region === undefined) {
    const buffer = bytes.buffer;
    const byteOffset = bytes.byteOffset;
    if ((byteOffset & 7) !== 0) throw new RangeError('service frames need an 8-byte aligned region');
    // Views over [0, end of `bytes`) of the buffer: positions below are absolute in the buffer.
    const end = byteOffset + bytes.byteLength;
    region = {
      bytes,
      byteOffset,
      u32: new Uint32Array(buffer, 0, end >> 2),
      i32: new Int32Array(buffer, 0, end >> 2),
      f64: new Float64Array(buffer, 0, end >> 3),
    };
    regions.set(bytes, region);
  }
  lastRegion = region;
  return region;
}

const REQUEST_FIXED = 56;
const RESPONSE_FIXED = 32;

// vtable slots (byte offset within the vtable) for fields with schema ids 0..n.
const SLOT_0 = 4;
const SLOT_1 = 6;
const SLOT_2 = 8;
const SLOT_3 = 10;
const SLOT_4 = 12;
const SLOT_5 = 14;

const align4 = (n: number) => (n + 3) & ~3;
const align8 = (n: number) => (n + 7) & ~7;

/** Bytes a ServiceRequest takes with these field lengths (a multiple of 8). */
export function serviceRequestLength(serviceBytes: number, methodBytes: number, argsLength: number): number {
  return align8(REQUEST_FIXED + align4(4 + serviceBytes + 1) + align4(4 + methodBytes + 1) + 4 + argsLength);
}

/**
 * Writes the fixed part, the two strings and the args length of a ServiceRequest at
 * `data[offset]` (8-aligned in its buffer). Returns the position in `data` where the `argsLength`
 * bytes of args go; the caller writes them there.
 */
export function writeServiceRequestHead(
  data: Uint8Array,
  offset: number,
  id: number,
  service: Uint8Array,
  method: Uint8Array,
  argsLength: number,
  deadline: number,
  replyRing: number,
): number {
  const { u32, f64, byteOffset } = regionOf(data);
  const base = byteOffset + offset;
  const w = base >> 2;
  u32[w] = 24; // root
  u32[w + 1] = 16 | (32 << 16); // vtable size, table size
  u32[w + 2] = 4 | (20 << 16); // id, service
  u32[w + 3] = 24 | (28 << 16); // method, args
  u32[w + 4] = 8 | (16 << 16); // deadline, reply_ring
  u32[w + 5] = 0;
  u32[w + 6] = 20; // soffset: vtable at table - 20
  u32[w + 7] = id >>> 0;
  f64[(base + 32) >> 3] = deadline;
  u32[w + 10] = replyRing >>> 0;
  let p = REQUEST_FIXED;
  u32[w + 11] = p - 44;
  p = writeString(data, u32, base, offset, p, service);
  u32[w + 12] = p - 48;
  p = writeString(data, u32, base, offset, p, method);
  u32[w + 13] = p - 52;
  u32[(base + p) >> 2] = argsLength;
  const argsStart = offset + p + 4;
  // Zero the tail padding so that no stale ring bytes sit inside the record.
  const end = offset + serviceRequestLength(service.length, method.length, argsLength);
  for (let i = argsStart + argsLength; i < end; i++) data[i] = 0;
  return argsStart;
}

function writeString(data: Uint8Array, u32: Uint32Array, base: number, offset: number, p: number, bytes: Uint8Array): number {
  const n = bytes.length;
  u32[(base + p) >> 2] = n;
  const at = offset + p + 4;
  if (n <= 32) for (let i = 0; i < n; i++) data[at + i] = bytes[i]!;
  else data.set(bytes, at);
  const end = p + align4(4 + n + 1);
  for (let i = at + n; i < offset + end; i++) data[i] = 0; // NUL and padding
  return end;
}

/** A decoded ServiceRequest: scalars, and positions in `data` of the strings' and args' bytes. */
export interface ServiceRequestView {
  id: number;
  deadline: number;
  replyRing: number;
  serviceStart: number;
  serviceLength: number;
  methodStart: number;
  methodLength: number;
  argsStart: number;
  /** -1 when the request has no args vector (no arguments). */
  argsLength: number;
}

export function newServiceRequestView(): ServiceRequestView {
  return { id: 0, deadline: 0, replyRing: 0, serviceStart: 0, serviceLength: 0, methodStart: 0, methodLength: 0, argsStart: 0, argsLength: -1 };
}

/** Reads the ServiceRequest at `data[offset]` into `out` (no allocation). */
export function readServiceRequest(data: Uint8Array, offset: number, out: ServiceRequestView): ServiceRequestView {
  const { u32, i32, f64, byteOffset } = regionOf(data);
  const base = byteOffset + offset;
  const table = base + u32[base >> 2]!;
  const vtable = table - i32[table >> 2]!;
  const vtableSize = u16(u32, vtable);
  // (No closure for the field lookup: under tsx every closure creation would also name it.)
  let f = SLOT_0 < vtableSize ? u16(u32, vtable + SLOT_0) : 0;
  out.id = f ? u32[(table + f) >> 2]! : 0;
  f = SLOT_4 < vtableSize ? u16(u32, vtable + SLOT_4) : 0;
  out.deadline = f ? readF64(f64, data, table + f) : 0;
  f = SLOT_5 < vtableSize ? u16(u32, vtable + SLOT_5) : 0;
  out.replyRing = f ? u32[(table + f) >> 2]! : 0;
  f = SLOT_1 < vtableSize ? u16(u32, vtable + SLOT_1) : 0;
  if (f) {
    const s = table + f + u32[(table + f) >> 2]!;
    out.serviceLength = u32[s >> 2]!;
    out.serviceStart = s + 4 - byteOffset;
  } else {
    out.serviceLength = 0;
    out.serviceStart = 0;
  }
  f = SLOT_2 < vtableSize ? u16(u32, vtable + SLOT_2) : 0;
  if (f) {
    const s = table + f + u32[(table + f) >> 2]!;
    out.methodLength = u32[s >> 2]!;
    out.methodStart = s + 4 - byteOffset;
  } else {
    out.methodLength = 0;
    out.methodStart = 0;
  }
  f = SLOT_3 < vtableSize ? u16(u32, vtable + SLOT_3) : 0;
  if (f) {
    const v = table + f + u32[(table + f) >> 2]!;
    out.argsLength = u32[v >> 2]!;
    out.argsStart = v + 4 - byteOffset;
  } else {
    out.argsLength = -1;
    out.argsStart = 0;
  }
  return out;
}

/** Bytes an ok ServiceResponse with a result of `resultLength` bytes takes (a multiple of 8). */
export function serviceResponseOkLength(resultLength: number): number {
  return align8(RESPONSE_FIXED + 4 + resultLength);
}

/**
 * Writes an ok ServiceResponse at `data[offset]` (8-aligned) up to the result bytes; returns the
 * position in `data` where the `resultLength` bytes go.
 */
export function writeServiceResponseOkHead(data: Uint8Array, offset: number, id: number, resultLength: number): number {
  const { u32, byteOffset } = regionOf(data);
  const w = (byteOffset + offset) >> 2;
  u32[w] = 16;
  u32[w + 1] = 12 | (16 << 16); // vtable size, table size
  u32[w + 2] = 4 | (12 << 16); // id, ok
  u32[w + 3] = 8; // result; error absent
  u32[w + 4] = 12; // soffset
  u32[w + 5] = id >>> 0;
  u32[w + 6] = RESPONSE_FIXED - 24;
  u32[w + 7] = 1; // ok, padding
  u32[w + 8] = resultLength;
  const start = offset + RESPONSE_FIXED + 4;
  const end = offset + serviceResponseOkLength(resultLength);
  for (let i = start + resultLength; i < end; i++) data[i] = 0;
  return start;
}

/** What an error response carries (ErrorInfo). */
export interface ServiceErrorFields {
  code: string;
  name: string;
  message: string;
  stack: string;
}

const errorBuilder = new flatbuffers.Builder(512);

/** A complete ServiceResponse with ok = false and `error` set, made by the flatbuffers Builder. */
export function encodeServiceErrorResponse(id: number, error: ServiceErrorFields): Uint8Array {
  const b = errorBuilder;
  b.clear();
  const code = b.createString(error.code);
  const name = b.createString(error.name);
  const message = b.createString(error.message);
  const stack = b.createString(error.stack);
  const info = ErrorInfo.createErrorInfo(b, code, name, message, stack);
  ServiceResponse.startServiceResponse(b);
  ServiceResponse.addId(b, id);
  ServiceResponse.addOk(b, false);
  ServiceResponse.addError(b, info);
  b.finish(ServiceResponse.endServiceResponse(b));
  const bytes = b.asUint8Array();
  const out = new Uint8Array(align8(bytes.length));
  out.set(bytes);
  return out;
}

/** A decoded ServiceResponse: id, ok, and where the result bytes are (or where the error table is). */
export interface ServiceResponseView {
  id: number;
  ok: boolean;
  resultStart: number;
  /** -1 when the response has no result vector (the result is undefined). */
  resultLength: number;
  /** Position in `data` of the ErrorInfo table, or -1. */
  errorTable: number;
}

export function newServiceResponseView(): ServiceResponseView {
  return { id: 0, ok: false, resultStart: 0, resultLength: -1, errorTable: -1 };
}

/** Reads the ServiceResponse at `data[offset]` into `out` (no allocation). */
export function readServiceResponse(data: Uint8Array, offset: number, out: ServiceResponseView): ServiceResponseView {
  const { u32, i32, byteOffset } = regionOf(data);
  const base = byteOffset + offset;
  const table = base + u32[base >> 2]!;
  const vtable = table - i32[table >> 2]!;
  const vtableSize = u16(u32, vtable);
  let f = SLOT_0 < vtableSize ? u16(u32, vtable + SLOT_0) : 0;
  out.id = f ? u32[(table + f) >> 2]! : 0;
  f = SLOT_1 < vtableSize ? u16(u32, vtable + SLOT_1) : 0;
  out.ok = f ? data[table + f - byteOffset] !== 0 : false;
  f = SLOT_2 < vtableSize ? u16(u32, vtable + SLOT_2) : 0;
  if (f) {
    const v = table + f + u32[(table + f) >> 2]!;
    out.resultLength = u32[v >> 2]!;
    out.resultStart = v + 4 - byteOffset;
  } else {
    out.resultLength = -1;
    out.resultStart = 0;
  }
  f = SLOT_3 < vtableSize ? u16(u32, vtable + SLOT_3) : 0;
  out.errorTable = f ? table + f + u32[(table + f) >> 2]! - byteOffset : -1;
  return out;
}

/**
 * The ErrorInfo of the error response at `data[offset, offset + length)` that `readServiceResponse`
 * read into `view` (copies the strings out).
 */
export function readServiceResponseError(data: Uint8Array, offset: number, length: number, view: ServiceResponseView): ServiceErrorFields {
  if (view.errorTable < 0) return { code: 'ERR_SERVICE', name: 'Error', message: 'the service failed without an error record', stack: '' };
  // TextDecoder refuses views of shared memory: decode from a private copy of the record.
  const bb = new flatbuffers.ByteBuffer(data.slice(offset, offset + length));
  const info = new ErrorInfo().__init(view.errorTable - offset, bb);
  return { code: info.code() ?? '', name: info.name() ?? 'Error', message: info.message() ?? '', stack: info.stack() ?? '' };
}

function u16(u32: Uint32Array, position: number): number {
  return (u32[position >> 2]! >>> ((position & 2) << 3)) & 0xffff;
}

function readF64(f64: Float64Array, data: Uint8Array, position: number): number {
  if ((position & 7) === 0) return f64[position >> 3]!;
  return new DataView(data.buffer).getFloat64(position, true);
}


/** Reads a FlatBuffers string at `data[start, start + length)` as UTF-8 (copying out of shared memory). */
export function readUtf8(data: Uint8Array, start: number, length: number): string {
  let ascii = true;
  for (let i = 0; i < length; i++) {
    if (data[start + i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    let s = '';
    for (let i = 0; i < length; i++) s += String.fromCharCode(data[start + i]!);
    return s;
  }
  return utf8.decode(data.slice(start, start + length));
}

const utf8 = new TextDecoder();
