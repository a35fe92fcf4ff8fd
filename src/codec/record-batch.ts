import { bytesPerElement, dtypeName, wireDType, type VectorArray, type VectorDType } from './dtype.js';
import { DimensionMismatchError, InvalidValueError, MalformedRecordError, ValueOutOfRangeError } from './errors.js';
import { readVector, rootTable, uint32Field, uint8Field } from './flat-table.js';
import { DType, RecordBatch } from './generated/ringflow/wire.js';
import { checkInt64, checkUint64, loadInt64AsNumber, storeInt64 } from './int64.js';
import { RECORD_ALIGNMENT, RecordBatchSlot } from './layout.js';
import { claimRegion, regionOf, storeElements, zeroBytes, type Region } from './memory.js';
import { RecordReader } from './record-reader.js';
import { alignUp, lengthPrefixAt, placeVector, TableHead } from './table-head.js';
import { checkElementCount, checkVectorValues } from './vector-values.js';

/** N vectors in columns: `uids[i]`, `ts[i]` and row i of the row-major `data` (`count * dim` numbers). */
export interface RecordBatchInput {
  dim: number;
  dtype: VectorDType;
  uids: BigUint64Array | ArrayLike<bigint>;
  ts: BigInt64Array | ArrayLike<bigint | number>;
  data: VectorArray | ArrayLike<number>;
}

/** A batch decoded into fresh memory (it stays valid after the ring reuses the bytes). */
export interface DecodedRecordBatch extends RecordBatchInput {
  uids: BigUint64Array;
  ts: BigInt64Array;
  data: VectorArray;
}

/** What writing a RecordBatch of one dtype needs; the columns' positions depend on count and dim. */
interface BatchHead {
  readonly head: TableHead;
  readonly elementBytes: 4 | 8;
  readonly countAt: number;
  readonly dimAt: number;
  readonly uidsFieldAt: number;
  readonly tsFieldAt: number;
  readonly dataFieldAt: number;
}

const heads: (BatchHead | undefined)[] = [];

function batchHead(dtype: DType): BatchHead {
  return (heads[dtype] ??= buildBatchHead(dtype));
}

function buildBatchHead(dtype: DType): BatchHead {
  const head = new TableHead('RecordBatch', (builder) => {
    if (dtype === DType.Float64) RecordBatch.startDataF64Vector(builder, 0);
    else RecordBatch.startDataVector(builder, 0);
    const data = builder.endVector();
    RecordBatch.startTsVector(builder, 0);
    const ts = builder.endVector();
    RecordBatch.startUidsVector(builder, 0);
    const uids = builder.endVector();
    RecordBatch.startRecordBatch(builder);
    RecordBatch.addCount(builder, 0);
    RecordBatch.addDim(builder, 0);
    RecordBatch.addDtype(builder, dtype);
    RecordBatch.addUids(builder, uids);
    RecordBatch.addTs(builder, ts);
    if (dtype === DType.Float64) RecordBatch.addDataF64(builder, data);
    else RecordBatch.addData(builder, data);
    return RecordBatch.endRecordBatch(builder);
  });
  return {
    head,
    elementBytes: bytesPerElement(dtype),
    countAt: head.fieldAt(RecordBatchSlot.count),
    dimAt: head.fieldAt(RecordBatchSlot.dim),
    uidsFieldAt: head.fieldAt(RecordBatchSlot.uids),
    tsFieldAt: head.fieldAt(RecordBatchSlot.ts),
    dataFieldAt: head.fieldAt(dtype === DType.Float64 ? RecordBatchSlot.dataF64 : RecordBatchSlot.data),
  };
}

/** Positions, from the batch start, of the columns' length prefixes (each column follows its prefix). */
interface BatchPositions {
  readonly uidsLengthAt: number;
  readonly tsLengthAt: number;
  readonly dataLengthAt: number;
  readonly end: number;
  readonly size: number;
}

/** Columns go after the head in reading order: uids, ts, data. */
function batchPositions(batch: BatchHead, count: number, dim: number): BatchPositions {
  const uidsLengthAt = lengthPrefixAt(batch.head.size, 8);
  const tsLengthAt = lengthPrefixAt(uidsLengthAt + 4 + count * 8, 8);
  // The data starts 8-aligned even for Float32: V8 copies into shared memory far faster (memcpy
  // rather than element by element) when the destination is 8-aligned.
  const dataLengthAt = lengthPrefixAt(tsLengthAt + 4 + count * 8, 8);
  const end = dataLengthAt + 4 + count * dim * batch.elementBytes;
  return { uidsLengthAt, tsLengthAt, dataLengthAt, end, size: alignUp(end, RECORD_ALIGNMENT) };
}

/** Bytes a RecordBatch of this shape takes (a multiple of 8). */
export function recordBatchSize(count: number, dim: number, dtype: VectorDType): number {
  const batch = batchHead(wireDType(dtype));
  checkShape(count, dim);
  return batchPositions(batch, count, dim).size;
}

function checkShape(count: number, dim: number): void {
  checkElementCount(count, 'count');
  checkElementCount(dim, 'dim');
  checkElementCount(count * dim, 'count * dim');
}

/**
 * Writes a RecordBatch (a complete FlatBuffer whose root offset is at `offset`) directly into
 * `bytes`. Every column is checked before the first byte is written.
 *
 * @param offset where the batch starts; `bytes.byteOffset + offset` must be a multiple of 8
 * @returns the bytes written, `recordBatchSize(count, dim, dtype)` with count = `batch.uids.length`
 */
export function writeRecordBatch(bytes: Uint8Array, offset: number, input: RecordBatchInput): number {
  const { dim, uids, ts, data } = input;
  const batch = batchHead(wireDType(input.dtype));
  const count = checkColumns(uids, ts);
  checkShape(count, dim);
  checkVectorValues(data, count * dim, 'batch data');
  const at = batchPositions(batch, count, dim);
  const start = claimRegion(bytes, offset, at.size);
  const region = regionOf(bytes);
  batch.head.stamp(region, start);
  region.u32[(start + batch.countAt) >>> 2] = count;
  region.u32[(start + batch.dimAt) >>> 2] = dim;
  let cursor = batch.head.size;
  cursor = placeVector(region, start, batch.uidsFieldAt, cursor, at.uidsLengthAt, count) + count * 8;
  storeUids(region, start + at.uidsLengthAt + 4, uids);
  cursor = placeVector(region, start, batch.tsFieldAt, cursor, at.tsLengthAt, count) + count * 8;
  storeTimestamps(region, start + at.tsLengthAt + 4, ts);
  placeVector(region, start, batch.dataFieldAt, cursor, at.dataLengthAt, count * dim);
  const dataAt = start + at.dataLengthAt + 4;
  if (batch.elementBytes === 8) storeElements(region.f64, dataAt >>> 3, data);
  else storeElements(region.f32, dataAt >>> 2, data);
  zeroBytes(region, start + at.end, start + at.size);
  return at.size;
}

/**
 * A RecordBatch laid out for `capacity` rows and filled in place, row by row: uids (uint64), ts
 * (int64) and the row-major vectors go at the byte positions below (positions in the `bytes` given
 * to openRecordBatch), and `sealRecordBatch` then records how many rows there are. A queue can so
 * build its batches in shared memory and hand a reader the finished FlatBuffer with no copy.
 */
export interface OpenRecordBatch {
  readonly offset: number;
  readonly capacity: number;
  readonly dim: number;
  readonly dtype: VectorDType;
  /** Bytes the batch occupies: `recordBatchSize(capacity, dim, dtype)`. */
  readonly size: number;
  readonly uidsAt: number;
  readonly tsAt: number;
  readonly dataAt: number;
}

/** Writes the head and empty columns of a batch of up to `capacity` rows at `offset` (8-aligned). */
export function openRecordBatch(bytes: Uint8Array, offset: number, capacity: number, dim: number, dtype: VectorDType): OpenRecordBatch {
  const batch = batchHead(wireDType(dtype));
  checkShape(capacity, dim);
  const at = batchPositions(batch, capacity, dim);
  const start = claimRegion(bytes, offset, at.size);
  const region = regionOf(bytes);
  batch.head.stamp(region, start);
  region.u32[(start + batch.dimAt) >>> 2] = dim;
  // Placed for a full batch; the lengths (and count) are 0 until sealed.
  let cursor = placeVector(region, start, batch.uidsFieldAt, batch.head.size, at.uidsLengthAt, 0) + capacity * 8;
  cursor = placeVector(region, start, batch.tsFieldAt, cursor, at.tsLengthAt, 0) + capacity * 8;
  placeVector(region, start, batch.dataFieldAt, cursor, at.dataLengthAt, 0);
  zeroBytes(region, start + at.end, start + at.size);
  region.u32[(start + batch.countAt) >>> 2] = 0;
  return {
    offset,
    capacity,
    dim,
    dtype,
    size: at.size,
    uidsAt: offset + at.uidsLengthAt + 4,
    tsAt: offset + at.tsLengthAt + 4,
    dataAt: offset + at.dataLengthAt + 4,
  };
}

/** Makes an open batch a valid RecordBatch of its first `count` rows (it can be reopened by sealing again). */
export function sealRecordBatch(bytes: Uint8Array, open: OpenRecordBatch, count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > open.capacity) {
    throw new ValueOutOfRangeError(`count must be an integer from 0 to ${open.capacity}, got ${count}`);
  }
  const batch = batchHead(wireDType(open.dtype));
  const start = claimRegion(bytes, open.offset, open.size);
  const u32 = regionOf(bytes).u32;
  const base = start - open.offset;
  u32[(start + batch.countAt) >>> 2] = count;
  u32[(base + open.uidsAt - 4) >>> 2] = count;
  u32[(base + open.tsAt - 4) >>> 2] = count;
  u32[(base + open.dataAt - 4) >>> 2] = count * open.dim;
}

/** Checks the uid and ts columns element by element (unless typed, which cannot hold a bad value); returns the row count. */
function checkColumns(uids: unknown, ts: unknown): number {
  if (!isArrayLike(uids)) throw new InvalidValueError('uids must be a BigUint64Array or an array of bigints');
  if (!isArrayLike(ts)) throw new InvalidValueError('ts must be a BigInt64Array or an array of numbers or bigints');
  const count = uids.length;
  if (ts.length !== count) throw new DimensionMismatchError(count, ts.length, 'ts column');
  if (!(uids instanceof BigUint64Array)) {
    for (let i = 0; i < count; i++) checkUint64(uids[i], `uids[${i}]`);
  }
  if (!(ts instanceof BigInt64Array)) {
    for (let i = 0; i < count; i++) checkInt64(ts[i], `ts[${i}]`);
  }
  return count;
}

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { length?: unknown }).length === 'number';
}

function storeUids(region: Region, at: number, uids: BigUint64Array | ArrayLike<bigint>): void {
  if (uids instanceof BigUint64Array) {
    region.u64.set(uids, at >>> 3);
    return;
  }
  for (let i = 0; i < uids.length; i++) region.u64[(at >>> 3) + i] = uids[i]!;
}

function storeTimestamps(region: Region, at: number, ts: BigInt64Array | ArrayLike<bigint | number>): void {
  if (ts instanceof BigInt64Array) {
    region.i64.set(ts, at >>> 3);
    return;
  }
  for (let i = 0; i < ts.length; i++) storeInt64(region, at + i * 8, ts[i]!);
}

/**
 * Reads RecordBatches in place; like VectorReader, one reader serves a whole region.
 *
 * ```ts
 * const batch = new RecordBatchReader(ringBytes).read(offset);
 * for (let i = 0; i < batch.count; i++) use(batch.uid(i), batch.ts(i), batch.row(i));
 * ```
 */
export class RecordBatchReader extends RecordReader {
  private rows = 0;
  private columns = 0;
  private wire: DType = DType.Float32;
  private uidsAt = 0;
  private tsAt = 0;
  private dataAt = 0;

  /** Points the reader at the batch whose root offset is at `offset` of `bytes`. */
  read(offset: number): this {
    const view = this.view;
    const table = rootTable(view, offset, 'RecordBatch');
    const count = uint32Field(view, table, RecordBatchSlot.count);
    const dim = uint32Field(view, table, RecordBatchSlot.dim);
    const wire = uint8Field(view, table, RecordBatchSlot.dtype);
    if (dtypeName(wire) === undefined) throw new MalformedRecordError(`RecordBatch at ${offset} has unknown dtype ${wire}`);
    const dataSlot = wire === DType.Float64 ? RecordBatchSlot.dataF64 : RecordBatchSlot.data;
    this.uidsAt = this.column(table, RecordBatchSlot.uids, 8, count);
    this.tsAt = this.column(table, RecordBatchSlot.ts, 8, count);
    this.dataAt = this.column(table, dataSlot, bytesPerElement(wire), count * dim);
    this.rows = count;
    this.columns = dim;
    this.wire = wire;
    return this;
  }

  /** Start of a column's elements, after checking it holds `expectedLength` of them. */
  private column(table: number, slot: number, elementBytes: number, expectedLength: number): number {
    const column = readVector(this.view, table, slot, elementBytes, this.span);
    if (column.length !== expectedLength) {
      throw new MalformedRecordError(`a column of the RecordBatch has ${column.length} elements, expected ${expectedLength}`);
    }
    return column.at;
  }

  get count(): number {
    return this.rows;
  }

  get dim(): number {
    return this.columns;
  }

  get dtype(): VectorDType {
    return dtypeName(this.wire)!;
  }

  uid(row: number): bigint {
    return this.view.getBigUint64(this.uidsAt + this.checkRow(row) * 8, true);
  }

  /** Event time of a row in ms (exact up to 2^53; `tsBigInt` is always exact). */
  ts(row: number): number {
    return loadInt64AsNumber(this.view, this.tsAt + this.checkRow(row) * 8);
  }

  tsBigInt(row: number): bigint {
    return this.view.getBigInt64(this.tsAt + this.checkRow(row) * 8, true);
  }

  /** Row `row` of the data as a view over `bytes` (no copy). */
  row(row: number): VectorArray {
    const at = this.dataAt + this.checkRow(row) * this.columns * bytesPerElement(this.wire);
    return this.wire === DType.Float64
      ? this.elementsView(Float64Array, at, this.columns)
      : this.elementsView(Float32Array, at, this.columns);
  }

  /** The uid column as a view over `bytes` (no copy). */
  uids(): BigUint64Array {
    return this.elementsView(BigUint64Array, this.uidsAt, this.rows);
  }

  /** The ts column as a view over `bytes` (no copy). */
  timestamps(): BigInt64Array {
    return this.elementsView(BigInt64Array, this.tsAt, this.rows);
  }

  /** The whole row-major matrix as a view over `bytes` (no copy). */
  data(): VectorArray {
    const length = this.rows * this.columns;
    return this.wire === DType.Float64
      ? this.elementsView(Float64Array, this.dataAt, length)
      : this.elementsView(Float32Array, this.dataAt, length);
  }

  /** The batch copied into fresh memory, in the shape `writeRecordBatch` takes. */
  copy(): DecodedRecordBatch {
    const length = this.rows * this.columns;
    return {
      dim: this.columns,
      dtype: this.dtype,
      uids: this.elementsCopy(BigUint64Array, this.uidsAt, this.rows),
      ts: this.elementsCopy(BigInt64Array, this.tsAt, this.rows),
      data:
        this.wire === DType.Float64
          ? this.elementsCopy(Float64Array, this.dataAt, length)
          : this.elementsCopy(Float32Array, this.dataAt, length),
    };
  }

  private checkRow(row: number): number {
    if (!(row >= 0 && row < this.rows && Number.isInteger(row))) {
      throw new ValueOutOfRangeError(`row ${row} is outside the batch of ${this.rows}`);
    }
    return row;
  }
}

let sharedReader: RecordBatchReader | undefined;

/** Decodes the RecordBatch at `offset` into fresh arrays; for the hot path use a RecordBatchReader. */
export function decodeRecordBatch(bytes: Uint8Array, offset = 0): DecodedRecordBatch {
  if (sharedReader?.bytes !== bytes) sharedReader = new RecordBatchReader(bytes);
  return sharedReader.read(offset).copy();
}
