import { bytesPerElement, dtypeName, wireDType, type VectorArray, type VectorDType } from './dtype.js';
import { MalformedRecordError } from './errors.js';
import { fieldPosition, readVector, rootTable, uint32Field, uint8Field } from './flat-table.js';
import { DType, VectorRecord } from './generated/ringflow/wire.js';
import { checkInt64, checkUint64, loadInt64AsNumber, storeInt64 } from './int64.js';
import { RECORD_ALIGNMENT, VectorRecordSlot } from './layout.js';
import { claimRegion, regionOf, storeElements } from './memory.js';
import { RecordReader } from './record-reader.js';
import { alignUp, assertInternal, lengthPrefixAt, TableHead, WordStamp } from './table-head.js';
import { checkElementCount, checkVectorValues } from './vector-values.js';

/** What writing a VectorRecord of one dtype needs; the same for every dim. */
interface VectorHead {
  readonly elementBytes: 4 | 8;
  /** Head, padding and the (constant) offset to the data: every byte before the length prefix. */
  readonly prefix: WordStamp;
  readonly uidAt: number;
  readonly tsAt: number;
  readonly dimAt: number;
  /** Position of the data vector's length prefix; the elements follow it. */
  readonly lengthAt: number;
  readonly dataAt: number;
}

const heads: (VectorHead | undefined)[] = [];

function vectorHead(dtype: DType): VectorHead {
  return (heads[dtype] ??= buildVectorHead(dtype));
}

function buildVectorHead(dtype: DType): VectorHead {
  const elementBytes = bytesPerElement(dtype);
  const dataSlot = dtype === DType.Float64 ? VectorRecordSlot.dataF64 : VectorRecordSlot.data;
  const head = new TableHead('VectorRecord', (builder) => {
    if (dtype === DType.Float64) VectorRecord.startDataF64Vector(builder, 0);
    else VectorRecord.startDataVector(builder, 0);
    const data = builder.endVector();
    VectorRecord.startVectorRecord(builder);
    VectorRecord.addUid(builder, 0n);
    VectorRecord.addTs(builder, 0n);
    VectorRecord.addDtype(builder, dtype);
    VectorRecord.addDim(builder, 0);
    if (dtype === DType.Float64) VectorRecord.addDataF64(builder, data);
    else VectorRecord.addData(builder, data);
    return VectorRecord.endVectorRecord(builder);
  });
  const uidAt = head.fieldAt(VectorRecordSlot.uid);
  const tsAt = head.fieldAt(VectorRecordSlot.ts);
  const dataFieldAt = head.fieldAt(dataSlot);
  assertInternal(uidAt % 8 === 0 && tsAt % 8 === 0, 'VectorRecord head has misaligned 64-bit fields');
  // The data always starts at the same place, so the offset to it is part of the stamped prefix.
  const lengthAt = lengthPrefixAt(head.size, elementBytes);
  const prefix = new Uint8Array(lengthAt);
  prefix.set(head.bytes);
  new DataView(prefix.buffer).setUint32(dataFieldAt, lengthAt - dataFieldAt, true);
  return {
    elementBytes,
    prefix: new WordStamp(prefix),
    uidAt,
    tsAt,
    dimAt: head.fieldAt(VectorRecordSlot.dim),
    lengthAt,
    dataAt: lengthAt + 4,
  };
}

/** Bytes a VectorRecord of this shape takes (a multiple of 8). */
export function vectorRecordSize(dim: number, dtype: VectorDType): number {
  const head = vectorHead(wireDType(dtype));
  checkElementCount(dim, 'dim');
  return alignUp(head.dataAt + dim * head.elementBytes, RECORD_ALIGNMENT);
}

/**
 * Writes a VectorRecord (a complete FlatBuffer whose root offset is at `offset`) directly into
 * `bytes`, typically space claimed in a ring. Allocates nothing: the fixed bytes come from a
 * prefix made once per dtype, and uid, ts and the elements go through views cached per region.
 *
 * @param offset where the record starts; `bytes.byteOffset + offset` must be a multiple of 8
 * @param dim the expected length of `vec` (default: its length); a mismatch throws ERR_DIM_MISMATCH
 * @returns the bytes written, `vectorRecordSize(dim, dtype)`
 */
export function writeVectorRecord(
  bytes: Uint8Array,
  offset: number,
  uid: bigint,
  ts: bigint | number,
  vec: VectorArray | ArrayLike<number>,
  dtype: VectorDType,
  dim: number = vec.length,
): number {
  const head = vectorHead(wireDType(dtype));
  checkElementCount(dim, 'dim');
  checkVectorValues(vec, dim, 'vector');
  checkUint64(uid, 'uid');
  checkInt64(ts, 'ts');
  const end = head.dataAt + dim * head.elementBytes;
  const size = alignUp(end, RECORD_ALIGNMENT);
  const start = claimRegion(bytes, offset, size);
  const region = regionOf(bytes);
  head.prefix.stamp(region, start);
  region.u64[(start + head.uidAt) >>> 3] = uid;
  storeInt64(region, start + head.tsAt, ts);
  region.u32[(start + head.dimAt) >>> 2] = dim;
  region.u32[(start + head.lengthAt) >>> 2] = dim;
  if (head.elementBytes === 8) storeElements(region.f64, (start + head.dataAt) >>> 3, vec);
  else storeElements(region.f32, (start + head.dataAt) >>> 2, vec);
  if (end !== size) region.u32[(start + end) >>> 2] = 0; // Float32 padding: one word at most
  return size;
}

/**
 * Reads VectorRecords in place. One reader serves a whole region (a ring's data, say): `read(offset)`
 * points it at the record there, allocating nothing, and the getters read the fields on demand.
 *
 * ```ts
 * const reader = new VectorReader(ringBytes);
 * reader.read(offset);
 * reader.uid; reader.ts; reader.vector(); // a Float32Array/Float64Array over ringBytes itself
 * ```
 */
export class VectorReader extends RecordReader {
  private uidAt = -1;
  private tsAt = -1;
  private dataAt = 0;
  private length = 0;
  private wire: DType = DType.Float32;

  /** Points the reader at the record whose root offset is at `offset` of `bytes`. */
  read(offset: number): this {
    const view = this.view;
    const table = rootTable(view, offset, 'VectorRecord');
    const wire = uint8Field(view, table, VectorRecordSlot.dtype);
    if (dtypeName(wire) === undefined) throw new MalformedRecordError(`VectorRecord at ${offset} has unknown dtype ${wire}`);
    const dim = uint32Field(view, table, VectorRecordSlot.dim);
    const dataSlot = wire === DType.Float64 ? VectorRecordSlot.dataF64 : VectorRecordSlot.data;
    const data = readVector(view, table, dataSlot, bytesPerElement(wire), this.span);
    if (data.length !== dim) {
      throw new MalformedRecordError(`VectorRecord at ${offset} declares dim ${dim} but holds ${data.length} elements`);
    }
    this.uidAt = fieldPosition(view, table, VectorRecordSlot.uid);
    this.tsAt = fieldPosition(view, table, VectorRecordSlot.ts);
    this.dataAt = data.at;
    this.length = data.length;
    this.wire = wire;
    return this;
  }

  get uid(): bigint {
    return this.uidAt < 0 ? 0n : this.view.getBigUint64(this.uidAt, true);
  }

  /** Event time in ms, as a number (exact up to 2^53; `tsBigInt` is always exact). */
  get ts(): number {
    return this.tsAt < 0 ? 0 : loadInt64AsNumber(this.view, this.tsAt);
  }

  get tsBigInt(): bigint {
    return this.tsAt < 0 ? 0n : this.view.getBigInt64(this.tsAt, true);
  }

  get dim(): number {
    return this.length;
  }

  get dtype(): VectorDType {
    return dtypeName(this.wire)!;
  }

  /**
   * The elements as a view over `bytes` (no copy): writes to that memory show through it, and it
   * is only meaningful while the record is (for a ring: until the frame is released).
   */
  vector(): VectorArray {
    return this.wire === DType.Float64
      ? this.elementsView(Float64Array, this.dataAt, this.length)
      : this.elementsView(Float32Array, this.dataAt, this.length);
  }

  /** The elements copied into fresh memory. */
  copyVector(): VectorArray {
    return this.wire === DType.Float64
      ? this.elementsCopy(Float64Array, this.dataAt, this.length)
      : this.elementsCopy(Float32Array, this.dataAt, this.length);
  }
}

export interface DecodedVectorRecord {
  uid: bigint;
  ts: number;
  dtype: VectorDType;
  /** A copy: it stays valid after the ring reuses the memory. */
  vector: VectorArray;
}

let sharedReader: VectorReader | undefined;

/** Decodes the VectorRecord at `offset` into fresh objects; for the hot path use a VectorReader. */
export function decodeVectorRecord(bytes: Uint8Array, offset = 0): DecodedVectorRecord {
  if (sharedReader?.bytes !== bytes) sharedReader = new VectorReader(bytes);
  const reader = sharedReader.read(offset);
  return { uid: reader.uid, ts: reader.ts, dtype: reader.dtype, vector: reader.copyVector() };
}
