import { readVector, rootTable, uint32Field, type VectorSpan } from './flat-table.js';
import { ValueBatch } from './generated/ringflow/wire.js';
import { RECORD_ALIGNMENT, ValueBatchSlot } from './layout.js';
import { regionOf, type Region } from './memory.js';
import { alignUp, lengthPrefixAt, placeVector, TableHead } from './table-head.js';
import { UnserializableValueError } from './errors.js';
import { asciiStringsText, isAsciiStrings, packAsciiStrings, unpackAsciiStrings, type PackedStrings } from './values/ascii-strings.js';
import { packValue, packValues, unpackValue } from './values/structured.js';

/*
 * A ValueBatch frame (schema/records.fbs): many records of any shape, in order, as one FlatBuffer:
 *
 *   head (root offset, vtable, table: count and four vector offsets)
 *   ts          [double]  count × 8 bytes, 8-aligned
 *   key_hashes  [uint32]  count × 4 bytes on keyed edges, else empty
 *   origins     [uint32]  count × 4 bytes when any record has an origin, else empty
 *   values      [ubyte]   one value-codec message: the array of the count values
 *
 * The values are encoded by one codec call per batch (the codec is fastest so, and the message
 * defines its record structures inline, so the frame decodes alone); a batch of ASCII strings
 * only is one text with its strings' ends instead (values/ascii-strings.ts).
 */

let head: { head: TableHead; countAt: number; tsAt: number; hashesAt: number; originsAt: number; valuesAt: number } | undefined;

function batchHead() {
  return (head ??= (() => {
    const h = new TableHead('ValueBatch', (builder) => {
      const values = ValueBatch.createValuesVector(builder, []);
      const origins = ValueBatch.createOriginsVector(builder, []);
      const hashes = ValueBatch.createKeyHashesVector(builder, []);
      const ts = ValueBatch.createTsVector(builder, []);
      ValueBatch.startValueBatch(builder);
      ValueBatch.addCount(builder, 0);
      ValueBatch.addTs(builder, ts);
      ValueBatch.addKeyHashes(builder, hashes);
      ValueBatch.addOrigins(builder, origins);
      ValueBatch.addValues(builder, values);
      return ValueBatch.endValueBatch(builder);
    });
    return {
      head: h,
      countAt: h.fieldAt(ValueBatchSlot.count),
      tsAt: h.fieldAt(ValueBatchSlot.ts),
      hashesAt: h.fieldAt(ValueBatchSlot.keyHashes),
      originsAt: h.fieldAt(ValueBatchSlot.origins),
      valuesAt: h.fieldAt(ValueBatchSlot.values),
    };
  })());
}

/**
 * Collects the records a producer emits for one ring, and writes them as ValueBatch frames. Values
 * are held by reference until `encode`: a record is encoded when its batch goes out (emit a fresh
 * object per record; one changed after it was emitted travels in its changed state).
 */
export class ValueBatchBuilder {
  readonly values: unknown[] = [];
  private ts = new Float64Array(64);
  private hashes = new Uint32Array(64);
  private origins = new Uint32Array(64);
  private withOrigins = false;
  // The range and bytes of the last `encode`.
  private start = 0;
  private end = 0;
  private encoded: Uint8Array | undefined;
  private encodedOrigins = false;

  constructor(readonly keyed: boolean) {}

  get count(): number {
    return this.values.length;
  }

  add(value: unknown, ts: number, hash: number, origin: number): void {
    const i = this.values.length;
    if (i === this.ts.length) this.grow();
    this.values.push(value);
    this.ts[i] = ts;
    this.hashes[i] = hash;
    this.origins[i] = origin;
    if (origin !== 0) this.withOrigins = true;
  }

  private grow(): void {
    const n = this.ts.length * 2;
    const ts = new Float64Array(n);
    ts.set(this.ts);
    const hashes = new Uint32Array(n);
    hashes.set(this.hashes);
    const origins = new Uint32Array(n);
    origins.set(this.origins);
    this.ts = ts;
    this.hashes = hashes;
    this.origins = origins;
  }

  /**
   * Encodes records [start, end) and returns the frame's size; `writeInto` then writes them (call it
   * before any other encode: the bytes are the codec's reused buffer). Throws
   * UnserializableValueError when the codec refuses one of them (see `dropRefused`).
   */
  encode(start = 0, end = this.values.length): number {
    const values = start === 0 && end === this.values.length ? this.values : this.values.slice(start, end);
    this.encoded = packAsciiStrings(values) ?? packValues(values, 'a record');
    this.encodedOrigins = this.withOrigins;
    this.start = start;
    this.end = end;
    return this.layout().size;
  }

  /** Removes the records the codec refuses, calling `refused` for each (one encode per record: the slow path). */
  dropRefused(refused: (value: unknown, error: UnserializableValueError) => void): void {
    let kept = 0;
    const values = this.values;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      try {
        packValue(value, 'a record');
      } catch (error) {
        refused(value, error as UnserializableValueError);
        continue;
      }
      values[kept] = value;
      this.ts[kept] = this.ts[i]!;
      this.hashes[kept] = this.hashes[i]!;
      this.origins[kept] = this.origins[i]!;
      kept++;
    }
    values.length = kept;
  }

  /** Gives the last encoded bytes a private copy (the codec's buffer is reused by the next encode). */
  detach(): void {
    if (this.encoded !== undefined) this.encoded = this.encoded.slice();
  }

  /** Drops record `index` (one too large for any frame). */
  drop(index: number): void {
    const n = this.values.length;
    this.values.splice(index, 1);
    this.ts.copyWithin(index, index + 1, n);
    this.hashes.copyWithin(index, index + 1, n);
    this.origins.copyWithin(index, index + 1, n);
  }

  private layout() {
    return frameLayout(this.end - this.start, this.keyed, this.encodedOrigins, this.encoded!.length);
  }

  /** Writes the last encoded range as a frame at `offset` (8-aligned) of `bytes`. */
  writeInto(bytes: Uint8Array, offset: number): void {
    const encoded = this.encoded!;
    writeFrame(bytes, offset, this.layout(), encoded.length, (u8, at) => u8.set(encoded, at), (f64, at) => f64.set(this.ts.subarray(this.start, this.end), at), this.hashes.subarray(this.start, this.end), this.origins.subarray(this.start, this.end));
  }

  /** Forgets records [0, end) (those sent); the rest stay, in order. */
  consume(end: number): void {
    if (end >= this.values.length) return this.clear();
    const n = this.values.length;
    this.values.splice(0, end);
    this.ts.copyWithin(0, end, n);
    this.hashes.copyWithin(0, end, n);
    this.origins.copyWithin(0, end, n);
  }

  clear(): void {
    this.values.length = 0;
    this.withOrigins = false;
    this.encoded = undefined;
  }
}

type FrameLayout = ReturnType<typeof frameLayout>;

function frameLayout(count: number, keyed: boolean, withOrigins: boolean, valuesLength: number) {
  const h = batchHead();
  const tsLengthAt = lengthPrefixAt(h.head.size, 8);
  const hashesLengthAt = lengthPrefixAt(tsLengthAt + 4 + count * 8, 4);
  const hashCount = keyed ? count : 0;
  const originsLengthAt = lengthPrefixAt(hashesLengthAt + 4 + hashCount * 4, 4);
  const originCount = withOrigins ? count : 0;
  const valuesLengthAt = lengthPrefixAt(originsLengthAt + 4 + originCount * 4, 8);
  const end = valuesLengthAt + 4 + valuesLength;
  return { h, count, tsLengthAt, hashesLengthAt, hashCount, originsLengthAt, originCount, valuesLengthAt, size: alignUp(end, RECORD_ALIGNMENT) };
}

function writeFrame(
  bytes: Uint8Array,
  offset: number,
  l: FrameLayout,
  encodedLength: number,
  writeEncoded: (u8: Uint8Array, at: number) => void,
  writeTs: (f64: Float64Array, at: number) => void,
  hashes: Uint32Array | undefined,
  origins: Uint32Array | undefined,
): void {
  const region = regionOf(bytes);
  const start = region.byteOffset + offset;
  const { h, count } = l;
  h.head.stamp(region, start);
  region.u32[(start + h.countAt) >>> 2] = count;
  let at = placeVector(region, start, h.tsAt, h.head.size, l.tsLengthAt, count);
  writeTs(region.f64, (start + at) >>> 3);
  at = placeVector(region, start, h.hashesAt, at + count * 8, l.hashesLengthAt, l.hashCount);
  if (l.hashCount > 0) region.u32.set(hashes!, (start + at) >>> 2);
  at = placeVector(region, start, h.originsAt, at + l.hashCount * 4, l.originsLengthAt, l.originCount);
  if (l.originCount > 0) region.u32.set(origins!, (start + at) >>> 2);
  at = placeVector(region, start, h.valuesAt, at + l.originCount * 4, l.valuesLengthAt, encodedLength);
  writeEncoded(region.u8, start + at);
  // Zero the tail padding, so a frame's bytes are a function of its records.
  region.u8.fill(0, start + at + encodedLength, start + l.size);
}

/**
 * A ValueBatch frame of values encoded elsewhere (PackedStrings: a source's lines), all with one
 * timestamp, for an edge that is not keyed: its size, then `writePackedValueBatch` writes it.
 */
export function packedValueBatchSize(values: PackedStrings, count = values.count): number {
  return frameLayout(count, false, false, values.shareLength(count)).size;
}

/** Writes the strings (or the round-robin share of them from `first` every `step`: PackedStrings.writeShare) as a frame at `offset`. */
export function writePackedValueBatch(bytes: Uint8Array, offset: number, values: PackedStrings, ts: number, first = 0, step = 1): void {
  const count = values.shareCount(first, step);
  const length = values.shareLength(count);
  writeFrame(bytes, offset, frameLayout(count, false, false, length), length, (u8, at) => values.writeShare(first, step, count, u8, at), (f64, at) => f64.fill(ts, at, at + count), undefined, undefined);
}

/**
 * Reads ValueBatch frames in place in one region (a ring's data). `read` points it at a frame; the
 * values come out of `values()`, which copies the encoded bytes out of the ring once and decodes
 * them (the decoded values own their memory).
 */
export class ValueBatchReader {
  readonly bytes: Uint8Array;
  private readonly region: Region;
  private readonly view: DataView;
  private readonly span: VectorSpan = { at: 0, length: 0 };
  private table = 0;
  count = 0;
  private tsAt = 0;
  private hashesAt = 0;
  private originsAt = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.region = regionOf(bytes);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  read(offset: number): this {
    const view = this.view;
    const table = (this.table = rootTable(view, offset, 'ValueBatch'));
    this.count = uint32Field(view, table, ValueBatchSlot.count);
    this.tsAt = readVector(view, table, ValueBatchSlot.ts, 8, this.span).at;
    this.hashesAt = readVector(view, table, ValueBatchSlot.keyHashes, 4, this.span).length > 0 ? this.span.at : -1;
    this.originsAt = readVector(view, table, ValueBatchSlot.origins, 4, this.span).length > 0 ? this.span.at : -1;
    return this;
  }

  ts(i: number): number {
    return this.region.f64[(this.region.byteOffset + this.tsAt + i * 8) >>> 3]!;
  }

  /** The key hash record `i` was routed by (0 when the edge was not keyed). */
  keyHash(i: number): number {
    return this.hashesAt < 0 ? 0 : this.region.u32[(this.region.byteOffset + this.hashesAt + i * 4) >>> 2]!;
  }

  origin(i: number): number {
    return this.originsAt < 0 ? 0 : this.region.u32[(this.region.byteOffset + this.originsAt + i * 4) >>> 2]!;
  }

  /** The frame's values, decoded from a private copy of their bytes. */
  values(): unknown[] {
    const bytes = this.valueBytes();
    const values = isAsciiStrings(bytes) ? unpackAsciiStrings(bytes) : unpackValue(bytes);
    if (!Array.isArray(values) || values.length !== this.count) throw new Error('ringflow codec internal error: a ValueBatch whose values do not match its count');
    return values;
  }

  /**
   * When the values are all ASCII strings (values/ascii-strings.ts): their text, one after
   * another, as a private copy; otherwise undefined (read `values()`).
   */
  text(): Uint8Array | undefined {
    const bytes = this.valueBytes();
    return isAsciiStrings(bytes) ? asciiStringsText(bytes) : undefined;
  }

  private valueBytes(): Uint8Array {
    const span = readVector(this.view, this.table, ValueBatchSlot.values, 1, this.span);
    return this.bytes.slice(span.at, span.at + span.length);
  }
}
