import { recordBatchSize, storeInt64Words, type RecordBatchInput, type VectorArray, type VectorDType } from '../../codec/index.js';

/** Vector records in columns, as the edge writers take them: a private VectorBatch or a SharedVectorBatch. */
export interface VectorRows {
  readonly dim: number;
  readonly dtype: VectorDType;
  readonly count: number;
  readonly uids: BigUint64Array;
  readonly data: VectorArray;
  /** The largest ts of the rows (-Infinity when empty). */
  readonly maxTs: number;
  tsAt(row: number): number;
  /** The filled rows, as writeRecordBatch takes them (views, no copy). */
  input(): RecordBatchInput;
  /** Bytes of the RecordBatch frame the filled rows make. */
  frameSize(): number;
}

/**
 * What the two batch kinds share: rows appended in columns (uid, ts, vector), handed to the
 * RecordBatch writer as views. Where the ts column lives and in what type is theirs to say.
 */
export abstract class ColumnBatch implements VectorRows {
  abstract readonly uids: BigUint64Array;
  abstract readonly data: VectorArray;
  /** The uid column as 32-bit halves (little-endian): a number uid goes in without a BigInt. */
  protected abstract readonly uidWords: Int32Array;
  count = 0;
  maxTs = -Infinity;

  constructor(
    readonly dim: number,
    readonly dtype: VectorDType,
    readonly capacity: number,
  ) {}

  get full(): boolean {
    return this.count === this.capacity;
  }

  /** Appends a copy of one record. The caller checks `full` first and that the shape matches. */
  add(uid: bigint, ts: number, vector: ArrayLike<number>): void {
    this.data.set(vector, this.count * this.dim);
    this.commitRow(uid, ts);
  }

  /** Sets the uid and ts of the next row (its vector is already in `data`) and counts it in. */
  commitRow(uid: bigint, ts: number): void {
    const row = this.count++;
    this.uids[row] = uid;
    this.storeTs(row, ts);
    if (ts > this.maxTs) this.maxTs = ts;
  }

  /**
   * Counts in the next row with its uid only (its vector is already in `data`): the ts column is
   * filled for all rows at once by `stampAll`. `uid` is a checked uint64, as a bigint or a safe
   * integer number (stored as two uint32 halves, no BigInt made).
   */
  commitUid(uid: bigint | number): void {
    const row = this.count++;
    if (typeof uid === 'number') {
      storeInt64Words(this.uidWords, row * 2, uid);
    } else {
      this.uids[row] = uid;
    }
  }

  /** Gives every row the same ts. */
  stampAll(ts: number): void {
    for (let row = 0; row < this.count; row++) this.storeTs(row, ts);
    this.maxTs = this.count > 0 ? ts : -Infinity;
  }

  abstract tsAt(row: number): number;

  input(): RecordBatchInput {
    const n = this.count;
    return { dim: this.dim, dtype: this.dtype, uids: this.uids.subarray(0, n), ts: this.tsColumn().subarray(0, n), data: this.data.subarray(0, n * this.dim) };
  }

  frameSize(): number {
    return recordBatchSize(this.count, this.dim, this.dtype);
  }

  clear(): void {
    this.count = 0;
    this.maxTs = -Infinity;
  }

  protected abstract storeTs(row: number, ts: number): void;
  protected abstract tsColumn(): Float64Array | BigInt64Array;
}

/**
 * Vector records in columns, the in-memory twin of a RecordBatch frame: where vectors are many
 * (SageFlowService's queue, a stage's output between drains) they travel a batch per frame, one
 * claim and one copy for hundreds of records.
 */
export class VectorBatch extends ColumnBatch {
  readonly uids: BigUint64Array;
  readonly ts: Float64Array;
  readonly data: VectorArray;
  protected readonly uidWords: Int32Array;

  constructor(dim: number, dtype: VectorDType, capacity: number) {
    super(dim, dtype, capacity);
    this.uids = new BigUint64Array(capacity);
    this.uidWords = new Int32Array(this.uids.buffer);
    this.ts = new Float64Array(capacity);
    this.data = dtype === 'Float64' ? new Float64Array(capacity * dim) : new Float32Array(capacity * dim);
  }

  tsAt(row: number): number {
    return this.ts[row]!;
  }

  protected storeTs(row: number, ts: number): void {
    // Whole ms, as every frame carries them (see checkTimestamp).
    this.ts[row] = Math.floor(ts);
  }

  protected tsColumn(): Float64Array {
    return this.ts;
  }
}

/** Bytes one row takes in a batch: the vector, its uid and its ts. */
export function rowBytes(dim: number, dtype: VectorDType): number {
  return dim * (dtype === 'Float64' ? 8 : 4) + 16;
}

/** Rows per batch: up to 256, fewer when vectors are so large that the frame would not fit the ring. */
export function batchRows(dim: number, dtype: VectorDType, maxPayload: number): number {
  return Math.max(1, Math.min(256, Math.floor((maxPayload - 256) / rowBytes(dim, dtype))));
}
