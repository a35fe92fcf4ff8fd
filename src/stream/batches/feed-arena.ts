import { openRecordBatch, recordBatchSize, sealRecordBatch, storeInt64Words, type OpenRecordBatch, type VectorArray, type VectorDType } from '../../codec/index.js';
import { InvalidArgumentError } from '../../errors.js';
import { ColumnBatch } from './vector-batch.js';

let nextArenaId = 1;

/**
 * Shared memory where a feed's queue builds its batches: each batch is a RecordBatch laid out in
 * place and filled row by row, so handing it to a worker costs a 48-byte reference frame (see
 * batch-ref.ts) instead of a copy of the vectors through the main thread. The arena grows a batch at a time up to
 * `maxBytes` (a growable SharedArrayBuffer: address space is reserved, memory is taken as it
 * grows) and keeps what it grew; batches come back with `recycle` once the pipeline is done with
 * them (for SageFlowService: once the run that sent them has reached the sink).
 *
 * ```
 *  arena: | batch 0 (RecordBatch, capacity rows) | batch 1 | ... | batch n |   free for growth   |
 *  ring:  [BatchRef arena id, offset, rows] ────────┘  (a worker reads the sealed batch in place)
 * ```
 */
export class FeedArena {
  readonly id = nextArenaId++;
  readonly buffer: SharedArrayBuffer;
  /** Tracks the buffer's length as it grows. */
  readonly bytes: Uint8Array;
  private readonly free: SharedVectorBatch[] = [];
  private used = 0;

  constructor(readonly maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 0 || maxBytes > 2 ** 32) {
      throw new InvalidArgumentError(`the arena size must be an integer number of bytes up to 4 GiB, got ${String(maxBytes)}`);
    }
    this.buffer = new SharedArrayBuffer(0, { maxByteLength: maxBytes });
    this.bytes = new Uint8Array(this.buffer);
  }

  /** An empty batch of this shape, or undefined when the arena is full (the caller then uses private memory). */
  take(dim: number, dtype: VectorDType, capacity: number): SharedVectorBatch | undefined {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const batch = this.free[i]!;
      if (batch.dim === dim && batch.dtype === dtype && batch.capacity === capacity) {
        this.free.splice(i, 1);
        return batch;
      }
    }
    const size = recordBatchSize(capacity, dim, dtype);
    if (this.used + size > this.maxBytes) return undefined;
    this.buffer.grow(this.used + size);
    const batch = new SharedVectorBatch(this, openRecordBatch(this.bytes, this.used, capacity, dim, dtype));
    this.used += size;
    return batch;
  }

  /** True when `take` of this shape would return a batch. */
  hasRoom(dim: number, dtype: VectorDType, capacity: number): boolean {
    for (const batch of this.free) if (batch.dim === dim && batch.dtype === dtype && batch.capacity === capacity) return true;
    return this.used + recordBatchSize(capacity, dim, dtype) <= this.maxBytes;
  }

  /** Gives a batch back for reuse: nothing may read it any more. */
  recycle(batch: SharedVectorBatch): void {
    if (batch.arena !== this) throw new InvalidArgumentError('that batch belongs to another arena');
    batch.clear();
    this.free.push(batch);
  }

  /** Bytes the arena has grown to. */
  get size(): number {
    return this.used;
  }
}

/** A batch of vector records built in a FeedArena: a RecordBatch, once sealed. */
export class SharedVectorBatch extends ColumnBatch {
  readonly uids: BigUint64Array;
  readonly data: VectorArray;
  protected readonly uidWords: Int32Array;
  /** The int64 ts column as 32-bit halves: a number goes in without a BigInt. */
  private readonly tsWords: Int32Array;
  private readonly ts: BigInt64Array;

  constructor(
    readonly arena: FeedArena,
    readonly layout: OpenRecordBatch,
  ) {
    super(layout.dim, layout.dtype, layout.capacity);
    const { buffer } = arena;
    this.uids = new BigUint64Array(buffer, layout.uidsAt, layout.capacity);
    this.uidWords = new Int32Array(buffer, layout.uidsAt, layout.capacity * 2);
    this.ts = new BigInt64Array(buffer, layout.tsAt, layout.capacity);
    this.tsWords = new Int32Array(buffer, layout.tsAt, layout.capacity * 2);
    const elements = layout.capacity * layout.dim;
    this.data = layout.dtype === 'Float64' ? new Float64Array(buffer, layout.dataAt, elements) : new Float32Array(buffer, layout.dataAt, elements);
  }

  tsAt(row: number): number {
    return this.tsWords[row * 2 + 1]! * 2 ** 32 + (this.tsWords[row * 2]! >>> 0);
  }

  /** Makes the filled rows a valid RecordBatch in the arena: call before handing the batch over. */
  seal(): void {
    sealRecordBatch(this.arena.bytes, this.layout, this.count);
  }

  protected storeTs(row: number, ts: number): void {
    storeInt64Words(this.tsWords, row * 2, Math.floor(ts));
  }

  protected tsColumn(): BigInt64Array {
    return this.ts;
  }
}
