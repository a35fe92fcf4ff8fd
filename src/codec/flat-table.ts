import { MalformedRecordError, ValueOutOfRangeError } from './errors.js';

// Bounds-checked navigation of a FlatBuffer table, shared by the readers and TableHead. It reads
// through a DataView rather than a flatbuffers ByteBuffer: a ByteBuffer builds a TextDecoder in its
// constructor (microseconds: too slow for the decode* conveniences, which make a reader per new
// buffer) and assembles every integer from single bytes. These checks are not a full verifier (the
// bytes come from our own rings), but every position a reader later dereferences is inside the buffer.
//
// Offsets and lengths are read as int32 (a negative one is malformed: no record is 2 GiB): a uint32
// read can exceed the small-integer range, and positions derived from it would then be boxed
// doubles, which made every `read()` allocate.

/** Position of the root table of the FlatBuffer whose root offset is at `offset`. */
export function rootTable(view: DataView, offset: number, tableName: string): number {
  const end = view.byteLength;
  if (!Number.isInteger(offset) || offset < 0 || offset % 4 !== 0) {
    throw new ValueOutOfRangeError(`a ${tableName} starts at a non-negative multiple of 4, got offset ${offset}`);
  }
  if (offset + 4 > end) throw new MalformedRecordError(`offset ${offset} is past the end of the buffer (${end} bytes)`);
  const table = offset + view.getInt32(offset, true);
  if (table < offset || table + 4 > end || table % 4 !== 0) {
    throw new MalformedRecordError(`no ${tableName} at offset ${offset}: root table position ${table} is invalid`);
  }
  const vtable = table - view.getInt32(table, true);
  if (vtable < 0 || vtable + 4 > end || vtable % 2 !== 0 || view.getUint16(vtable, true) < 4 || vtable + view.getUint16(vtable, true) > end) {
    throw new MalformedRecordError(`no ${tableName} at offset ${offset}: its vtable position ${vtable} is invalid`);
  }
  if (table + view.getUint16(vtable + 2, true) > end) {
    throw new MalformedRecordError(`the ${tableName} at offset ${offset} runs past the end of the buffer`);
  }
  return table;
}

/** Position of a field of `table`, or -1 when the field is absent (its value is the default). */
export function fieldPosition(view: DataView, table: number, slot: number): number {
  const vtable = table - view.getInt32(table, true);
  if (slot >= view.getUint16(vtable, true)) return -1;
  const relative = view.getUint16(vtable + slot, true);
  if (relative === 0) return -1;
  if (relative >= view.getUint16(vtable + 2, true)) {
    throw new MalformedRecordError(`a field of the table at ${table} lies outside the table`);
  }
  return table + relative;
}

/** A uint32 field's value, or 0 (every uint32 default in our schema) when absent. */
export function uint32Field(view: DataView, table: number, slot: number): number {
  const at = fieldPosition(view, table, slot);
  return at < 0 ? 0 : view.getUint32(at, true);
}

/** A ubyte (or ubyte enum, or bool) field's value, or 0 when absent. */
export function uint8Field(view: DataView, table: number, slot: number): number {
  const at = fieldPosition(view, table, slot);
  return at < 0 ? 0 : view.getUint8(at);
}

/**
 * Where the vector (or string) of an offset field lies: `vector.at` is its first element and
 * `vector.length` its element count; both 0 when the field is absent. Written into a caller-owned
 * object so that reading a record allocates nothing.
 */
export interface VectorSpan {
  at: number;
  length: number;
}

export function readVector(view: DataView, table: number, slot: number, elementBytes: number, into: VectorSpan): VectorSpan {
  const field = fieldPosition(view, table, slot);
  if (field < 0) {
    into.at = 0;
    into.length = 0;
    return into;
  }
  const prefix = field + view.getInt32(field, true);
  if (prefix < field || prefix + 4 > view.byteLength) {
    throw new MalformedRecordError(`a vector of the table at ${table} starts outside the buffer`);
  }
  const length = view.getInt32(prefix, true);
  if (length < 0 || prefix + 4 + length * elementBytes > view.byteLength) {
    throw new MalformedRecordError(`a vector of the table at ${table} runs past the end of the buffer`);
  }
  into.at = prefix + 4;
  into.length = length;
  return into;
}
