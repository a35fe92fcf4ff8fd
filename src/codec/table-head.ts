import { Builder } from 'flatbuffers';
import { fieldPosition, rootTable } from './flat-table.js';
import { zeroBytes, type Region } from './memory.js';
import { writeUtf8 } from './utf8.js';

/**
 * The fixed start of one kind of record: root offset, vtable and table, as the flatbuffers Builder
 * laid them out. In-place writers stamp these bytes, store the scalars at `fieldAt(slot)`, and
 * append the record's vectors after `size` at positions computed from their lengths
 * (`lengthPrefixAt`), pointing the table's offset fields at them. Copying the Builder's head keeps
 * the vtable and table layout the Builder's (and so the generated code's); only the placement of
 * vectors after the table is ours, and FlatBuffers lets a writer put them anywhere after it.
 */
export class TableHead {
  /** The head's bytes: root offset, padding, vtable, table. */
  readonly bytes: Uint8Array;
  /** Their length: where the vectors can start. */
  readonly size: number;
  private readonly view: DataView;
  private readonly table: number;
  private readonly stamper: WordStamp;

  /**
   * @param build adds, to a Builder that forces default values out (so that every field gets a
   *   slot), one table with every field a writer will set; vector fields point at empty vectors
   *   created before the table (the Builder then puts them after it), and returns the table offset
   */
  constructor(tableName: string, build: (builder: Builder) => number) {
    const builder = new Builder(256);
    builder.forceDefaults(true);
    builder.finish(build(builder));
    const record = builder.asUint8Array().slice();
    this.view = new DataView(record.buffer);
    this.table = rootTable(this.view, 0, tableName);
    const vtable = this.table - this.view.getInt32(this.table, true);
    const tableEnd = this.table + this.view.getUint16(vtable + 2, true);
    assertInternal(tableEnd % 4 === 0 && tableEnd <= record.length, `${tableName} head ends at ${tableEnd}`);
    this.bytes = record.subarray(0, tableEnd);
    this.size = tableEnd;
    this.stamper = new WordStamp(this.bytes);
  }


  /** Copies the head to byte `start` (8-aligned) of the region's buffer. */
  stamp(region: Region, start: number): void {
    this.stamper.stamp(region, start);
  }

  /** Position, from the record start, of the field in vtable slot `slot`. */
  fieldAt(slot: number): number {
    const position = fieldPosition(this.view, this.table, slot);
    assertInternal(position > 0, `the head has no field in vtable slot ${slot}`);
    return position;
  }
}

/** Writes fixed words of a record whose first word is at index `base` of `i32`. */
type WordWriter = (i32: Int32Array, base: number) => void;

/**
 * A byte image (a record head, possibly extended and patched) that is copied to the start of every
 * record of a kind. The copy is a few closures that each store eight captured constants rather than
 * a loop: for the ~60-byte head of a small record, a loop or TypedArray.prototype.set over its words
 * cost as much as the rest of the write (~30-45 ns against ~5 ns for the unrolled stores).
 */
export class WordStamp {
  private readonly writers: readonly WordWriter[];

  constructor(image: Uint8Array) {
    assertInternal(image.length % 4 === 0, 'a stamp covers whole words');
    const words = new Int32Array(image.slice().buffer);
    const writers: WordWriter[] = [];
    if (words.length < 8) {
      writers.push(copyWords(words));
    } else {
      // Eight at a time; the last eight overlap the previous ones when the count is not a multiple
      // of eight (storing the same values twice, harmlessly).
      for (let at = 0; at < words.length; at += 8) writers.push(eightWords(words, Math.min(at, words.length - 8)));
    }
    this.writers = writers;
  }

  /** Copies the image to byte `start` (a multiple of 4) of the region's buffer. */
  stamp(region: Region, start: number): void {
    const i32 = region.i32;
    const base = start >>> 2;
    const writers = this.writers;
    for (let i = 0; i < writers.length; i++) writers[i]!(i32, base);
  }
}

function eightWords(words: Int32Array, at: number): WordWriter {
  const [w0, w1, w2, w3, w4, w5, w6, w7] = words.slice(at, at + 8);
  return (i32, base) => {
    const b = base + at;
    i32[b] = w0!;
    i32[b + 1] = w1!;
    i32[b + 2] = w2!;
    i32[b + 3] = w3!;
    i32[b + 4] = w4!;
    i32[b + 5] = w5!;
    i32[b + 6] = w6!;
    i32[b + 7] = w7!;
  };
}

function copyWords(words: Int32Array): WordWriter {
  return (i32, base) => {
    for (let i = 0; i < words.length; i++) i32[base + i] = words[i]!;
  };
}

/**
 * The first multiple of `alignment` (a power of two) at or after `position`. Int32 arithmetic: the
 * size limits (MAX_ELEMENTS, MAX_PAYLOAD_BYTES) keep every position in a record below 2^31. (A
 * Math.ceil fallback for larger values made the result a double, which V8 then boxed on return:
 * one allocation per record.)
 */
export function alignUp(position: number, alignment: number): number {
  return (position + alignment - 1) & -alignment;
}

/**
 * Where to put the u32 length prefix of a vector (or string) that goes at or after `cursor`: 4-aligned,
 * with the elements right after it aligned to `elementAlignment` (1, 4 or 8).
 */
export function lengthPrefixAt(cursor: number, elementAlignment: number): number {
  return alignUp(cursor + 4, Math.max(4, elementAlignment)) - 4;
}

/**
 * Points the offset field at `fieldAt` to a vector whose length prefix goes at `lengthAt`, writes
 * that prefix and zeroes the padding from `cursor` up to it (positions from the record start, which
 * is byte `start` of the region's buffer). Returns where the elements go.
 */
export function placeVector(
  region: Region,
  start: number,
  fieldAt: number,
  cursor: number,
  lengthAt: number,
  length: number,
): number {
  zeroBytes(region, start + cursor, start + lengthAt);
  region.u32[(start + fieldAt) >>> 2] = lengthAt - fieldAt;
  region.u32[(start + lengthAt) >>> 2] = length;
  return lengthAt + 4;
}

/**
 * Writes a string (`textBytes` bytes of UTF-8, as `utf8Length` measured) after `cursor` and points
 * the offset field at `fieldAt` to it. Returns the position after its NUL terminator.
 */
export function placeString(
  region: Region,
  start: number,
  fieldAt: number,
  cursor: number,
  text: string,
  textBytes: number,
): number {
  const at = placeVector(region, start, fieldAt, cursor, lengthPrefixAt(cursor, 1), textBytes);
  writeUtf8(region.u8, start + at, text);
  region.u8[start + at + textBytes] = 0;
  return at + textBytes + 1;
}

/** Position after a string of `textBytes` bytes placed after `cursor` (the arithmetic of `placeString`). */
export function stringEnd(cursor: number, textBytes: number): number {
  return lengthPrefixAt(cursor, 1) + 4 + textBytes + 1;
}

/** Guards an assumption about what the flatbuffers Builder produced; failing means a bug here, not bad input. */
export function assertInternal(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`ringflow codec internal error: ${message}`);
}
