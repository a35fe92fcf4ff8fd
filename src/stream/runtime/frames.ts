import { encodeEnvelope, EnvelopeReader, RecordBatchReader, type DecodedRecordBatch, UINT64_MAX, ValueBatchReader, VectorReader, vectorRecordSize, writeVectorRecord, type VectorArray } from '../../codec/index.js';
import type { SharedRing } from '../../ring/index.js';
import { InputBatch, refAllRows, refArena, refHasRow, refOffset } from '../batches/batch-ref.js';
import { InvalidTimestampError } from './errors.js';

/**
 * What travels between the stages of a pipeline: records, and the control marks that flow in band
 * behind them (FIFO per ring, so a mark says "everything before me from this producer is here").
 * The ring frame type is `kind | port << 8`; the port tells a join's sides apart.
 */
export const FrameKind = {
  /** An Envelope: any structured-cloneable value, v8-serialized. */
  Value: 1,
  /** A VectorRecord: `{ uid, ts, vector }` without serialization. */
  Vector: 2,
  /** A RecordBatch: many VectorRecords in columns. */
  VectorBatch: 3,
  /** A sealed RecordBatch in a FeedArena, by reference. Payload: arena id int32, byte offset uint32. */
  BatchRef: 4,
  /** A ValueBatch: many records of any shape, their timestamps, key hashes and origins, in columns. */
  ValueBatch: 5,
  /** Payload: producer int32, pad, watermark float64. */
  Watermark: 8,
  /** Payload: producer int32, epoch int32. */
  Barrier: 9,
  /** Payload: producer int32. The producer will send nothing more. */
  End: 10,
  /**
   * Payload: producer int32, checkpoint id int32. A checkpoint barrier: unlike a Barrier (which
   * only says "all before me has passed"), a keyed stage snapshots its tables when it has come
   * from every producer.
   */
  Checkpoint: 11,
} as const;

export const frameType = (kind: number, port: number): number => kind | (port << 8);
export const kindOf = (type: number): number => type & 0xff;
export const portOf = (type: number): number => type >>> 8;

/** The record shape that rides the Vector fast path (and what SageFlowService pipelines see). */
export interface VectorRecord {
  uid: bigint;
  ts: number;
  vector: VectorArray;
}

/** A plain `{ uid, ts, vector }` object, nothing more: it can go as a VectorRecord without losing fields. */
export function isVectorRecord(value: unknown): value is VectorRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as VectorRecord;
  if (typeof v.uid !== 'bigint' || typeof v.ts !== 'number' || !(v.vector instanceof Float32Array || v.vector instanceof Float64Array)) {
    return false;
  }
  let keys = 0;
  for (const _ in v) keys++;
  return keys === 3 && v.uid >= 0n && v.uid <= UINT64_MAX;
}

/**
 * One record, encoded once, ready to be copied into any number of rings (broadcast needs the
 * same bytes several times). Reused: `prepare` overwrites the previous record.
 */
export class PreparedRecord {
  kind = 0;
  size = 0;
  private vector: VectorRecord | undefined;
  private envelope: Uint8Array | undefined;

  prepare(value: unknown, ts: number): this {
    if (!isVectorRecord(value)) return this.prepareValue(value, ts);
    checkTimestamp(value.ts);
    this.kind = FrameKind.Vector;
    this.vector = value;
    this.envelope = undefined;
    this.size = vectorRecordSize(value.vector.length, value.vector instanceof Float64Array ? 'Float64' : 'Float32');
    return this;
  }

  /** As an Envelope, for a value already known not to be a vector record. */
  prepareValue(value: unknown, ts: number): this {
    this.kind = FrameKind.Value;
    this.vector = undefined;
    checkTimestamp(ts);
    this.envelope = encodeEnvelope(value, { ts: Math.floor(ts) });
    this.size = this.envelope.length;
    return this;
  }

  /** Writes the record into claimed space at `offset` of `data`. */
  writeInto(data: Uint8Array, offset: number): void {
    const v = this.vector;
    if (v !== undefined) writeVectorRecord(data, offset, v.uid, Math.floor(v.ts), v.vector, v.vector instanceof Float64Array ? 'Float64' : 'Float32');
    else data.set(this.envelope!, offset);
  }
}

/**
 * Event time travels in whole ms: a fractional timestamp is rounded down where it enters a frame
 * (windows have whole-ms bounds, and watermarks are rounded down too, so a record lands in the
 * same window and is never late because of it). NaN and ±Infinity are refused: the record fails.
 */
export function checkTimestamp(ts: unknown): asserts ts is number {
  // Numbers only: null, true, '250' or [300] would pass the finiteness test by coercion.
  if (typeof ts !== 'number' || ts - ts !== 0) throw new InvalidTimestampError(ts);
}

/** The most a vector copy allocates at once (see decodeBatch). */
const COPY_PIECE_BYTES = 64 * 1024;

/** True for the frame kinds that carry records (as opposed to control marks). */
export const isRecordKind = (kind: number): boolean => kind >= FrameKind.Value && kind <= FrameKind.ValueBatch;

/**
 * Decodes records out of one ring's data region. With `copyVectors` (the default) every value owns
 * its memory and outlives the frame: a batch's vectors are copied once into one fresh buffer and
 * handed out as views of it (a fresh buffer per vector would cost far more). Without it, vectors
 * are views over the ring itself, valid only until the frame is released: for code that reads them
 * during the call and keeps nothing.
 */
export class RecordDecoder {
  private readonly vectors: VectorReader;
  private readonly envelopes: EnvelopeReader;
  private readonly batches: RecordBatchReader;
  private readonly valueBatches: ValueBatchReader;
  private readonly words: Int32Array;
  /** Readers of the feed arenas that BatchRef frames point into, by arena id. */
  private readonly arenaReaders = new Map<number, RecordBatchReader>();
  /** The referenced batch being decoded (see InputBatch). */
  readonly input = new InputBatch();

  constructor(
    data: Uint8Array,
    private readonly copyVectors = true,
    private readonly arenas: readonly ArenaHandle[] = [],
  ) {
    this.vectors = new VectorReader(data);
    this.envelopes = new EnvelopeReader(data);
    this.batches = new RecordBatchReader(data);
    this.valueBatches = new ValueBatchReader(data);
    this.words = new Int32Array(data.buffer, data.byteOffset, data.length >>> 2);
  }

  /**
   * Calls `emit(value, ts)` for the record(s) of the frame at `offset`: one, or a batch's rows.
   * With `emitVector`, vector records go there as (uid, ts, vector) instead, and no record object
   * is built for them. `origin` is the request or message slot the record derives from (0: none;
   * only value records carry one). Returns how many records the frame held.
   */
  decode(kind: number, offset: number, emit: RecordEmitter, emitVector?: VectorEmitter): number {
    if (kind === FrameKind.ValueBatch) {
      const b = this.valueBatches.read(offset);
      const values = b.values();
      for (let i = 0; i < values.length; i++) emit(values[i], b.ts(i), b.origin(i));
      return values.length;
    }
    if (kind === FrameKind.Vector) {
      const r = this.vectors.read(offset);
      const ts = r.ts;
      const vector = this.copyVectors ? r.copyVector() : r.vector();
      if (emitVector) emitVector(r.uid, ts, vector);
      else emit({ uid: r.uid, ts, vector } satisfies VectorRecord, ts, 0);
      return 1;
    }
    if (kind === FrameKind.VectorBatch) return this.decodeBatch(this.batches.read(offset), -1, emit, emitVector);
    if (kind === FrameKind.BatchRef) return this.decodeReferenced(offset, emit, emitVector);
    const e = this.envelopes.read(offset);
    emit(e.value(), e.ts, 0);
    return 1;
  }

  /** A ValueBatch frame of ASCII strings only: their text, one after another (a private copy); else undefined. */
  text(kind: number, offset: number): { utf8: Uint8Array; records: number } | undefined {
    if (kind !== FrameKind.ValueBatch) return undefined;
    const batch = this.valueBatches.read(offset);
    const utf8 = batch.text();
    return utf8 && { utf8, records: batch.count };
  }

  /** The rows a BatchRef frame carries; the batch is `input` meanwhile, for writers that send rows on in place. */
  private decodeReferenced(offset: number, emit: RecordEmitter, emitVector?: VectorEmitter): number {
    const b = this.referencedBatch(offset);
    const w = offset >>> 2;
    const input = this.input;
    input.arena = refArena(this.words, w);
    input.at = refOffset(this.words, w);
    input.lastRow = -1;
    input.selection.clear();
    input.active = true;
    try {
      return this.decodeBatch(b, refAllRows(this.words, w) ? -1 : w, emit, emitVector);
    } finally {
      input.active = false;
      input.data = input.uids = input.tsWords = undefined;
      input.pieces.length = 0;
    }
  }

  /** Hands out a batch's rows: all of them, or (`ref` ≥ 0) those the BatchRef frame at word `ref` selects. */
  private decodeBatch(b: RecordBatchReader, ref: number, emit: RecordEmitter, emitVector?: VectorEmitter): number {
    const uids = b.uids();
    const inPlace = b.data();
    const dim = b.dim;
    const rows = b.count;
    // Rows as views made by the constructor: subarray costs ~1.5× as much per call in V8.
    const Vector = inPlace instanceof Float64Array ? Float64Array : Float32Array;
    const rowBytes = dim * Vector.BYTES_PER_ELEMENT;
    const pieceRows = this.copyVectors ? Math.max(1, Math.floor(COPY_PIECE_BYTES / rowBytes)) : rows;
    const input = this.input;
    if (input.active) {
      const ts = b.timestamps();
      input.rows = rows;
      input.dim = dim;
      input.float64 = Vector === Float64Array;
      input.pieceRows = pieceRows;
      input.pieces.length = 0;
      input.viewByteOffset = this.copyVectors ? 0 : inPlace.byteOffset;
      input.rowBytes = rowBytes;
      input.copied = this.copyVectors;
      input.data = inPlace;
      input.uids = uids;
      input.tsWords = new Int32Array(ts.buffer, ts.byteOffset, rows * 2);
    }
    let count = 0;
    let buffer: ArrayBufferLike = inPlace.buffer;
    let byteOffset = inPlace.byteOffset;
    if (input.active && !this.copyVectors) input.pieces.push(buffer);
    for (let row = 0; row < rows; row++) {
      if (row % pieceRows === 0 && this.copyVectors) {
        // Copies are made a piece at a time, each under malloc's mmap threshold (128 KiB): a larger
        // buffer is mapped fresh and faults in page by page, and freed back to the kernel, every time.
        buffer = inPlace.slice(row * dim, Math.min(rows, row + pieceRows) * dim).buffer;
        byteOffset = -row * rowBytes;
        if (input.active) input.pieces.push(buffer);
      }
      if (ref >= 0 && !refHasRow(this.words, ref, row)) continue;
      count++;
      const ts = b.ts(row); // as a number straight from the int64's halves: no BigInt per row
      const vector = new Vector(buffer as ArrayBuffer, byteOffset + row * rowBytes, dim);
      if (emitVector) emitVector(uids[row]!, ts, vector);
      else emit({ uid: uids[row]!, ts, vector } satisfies VectorRecord, ts, 0);
    }
    return count;
  }

  /** The rows a BatchRef frame at `offset` carries, copied into fresh columns. */
  copyReferenced(offset: number): DecodedRecordBatch {
    const b = this.referencedBatch(offset);
    const w = offset >>> 2;
    if (refAllRows(this.words, w)) return b.copy();
    const rows: number[] = [];
    for (let row = 0; row < b.count; row++) if (refHasRow(this.words, w, row)) rows.push(row);
    // Only the selected rows are copied, straight from the arena.
    const { dim } = b;
    const uids = b.uids();
    const ts = b.timestamps();
    const source = b.data();
    const data = source instanceof Float64Array ? new Float64Array(rows.length * dim) : new Float32Array(rows.length * dim);
    rows.forEach((row, i) => data.set(source.subarray(row * dim, (row + 1) * dim), i * dim));
    return { dim, dtype: b.dtype, uids: BigUint64Array.from(rows, (row) => uids[row]!), ts: BigInt64Array.from(rows, (row) => ts[row]!), data };
  }

  /** The RecordBatch a BatchRef frame at `offset` points to, read in place in its arena. */
  referencedBatch(offset: number): RecordBatchReader {
    return this.arenaReader(refArena(this.words, offset >>> 2)).read(refOffset(this.words, offset >>> 2));
  }

  /** The arena's reader, remade when the arena has grown since (a reader's view has a fixed length). */
  private arenaReader(id: number): RecordBatchReader {
    const reader = this.arenaReaders.get(id);
    const arena = this.arenas.find((a) => a.id === id);
    if (arena === undefined) throw new Error(`internal: a batch reference into unknown arena ${id}`);
    if (reader !== undefined && reader.bytes.length === arena.buffer.byteLength) return reader;
    const fresh = new RecordBatchReader(new Uint8Array(arena.buffer, 0, arena.buffer.byteLength));
    this.arenaReaders.set(id, fresh);
    return fresh;
  }
}

/** A feed arena as a worker sees it: see FeedArena. */
export interface ArenaHandle {
  id: number;
  buffer: SharedArrayBuffer;
}

/** Receives decoded records: see RecordDecoder.decode. */
export type RecordEmitter = (value: unknown, ts: number, origin: number) => void;

/** Receives vector records as their parts: see RecordDecoder.decode. */
export type VectorEmitter = (uid: bigint, ts: number, vector: VectorArray) => void;

// ------------------------------------------------------------------ control marks

const CONTROL_SIZE = 16;
const scratch = new DataView(new ArrayBuffer(CONTROL_SIZE));

export function controlView(data: Uint8Array, offset: number): DataView {
  return new DataView(data.buffer, data.byteOffset + offset, CONTROL_SIZE);
}

/** Encodes a control mark; `a` is the producer, `b` the epoch (Barrier) or watermark (Watermark). */
export function controlPayload(kind: number, producer: number, b = 0): Uint8Array {
  scratch.setInt32(0, producer, true);
  scratch.setInt32(4, 0, true);
  scratch.setFloat64(8, kind === FrameKind.Watermark ? b : 0, true);
  if (kind === FrameKind.Barrier || kind === FrameKind.Checkpoint) scratch.setInt32(4, b, true);
  return new Uint8Array(scratch.buffer.slice(0));
}

export interface ControlMark {
  producer: number;
  epoch: number;
  watermark: number;
}

export function readControl(data: Uint8Array, offset: number): ControlMark {
  const view = controlView(data, offset);
  return { producer: view.getInt32(0, true), epoch: view.getInt32(4, true), watermark: view.getFloat64(8, true) };
}

/** Bytes of a control mark's payload. */
export const CONTROL_FRAME_SIZE = CONTROL_SIZE;

/** Writes a control mark's payload into claimed space at `offset` of `data` (see controlPayload). */
export function writeControlAt(data: Uint8Array, offset: number, kind: number, producer: number, b = 0): void {
  data.set(controlPayload(kind, producer, b), offset);
}

/** Writes one control mark into `ring`, blocking (worker threads). */
export function writeControl(ring: SharedRing, kind: number, producer: number, b = 0, port = 0): void {
  ring.write(controlPayload(kind, producer, b), frameType(kind, port));
}

/** Writes one control mark into `ring` without blocking. */
export function writeControlAsync(ring: SharedRing, kind: number, producer: number, b = 0, port = 0): Promise<void> {
  return ring.writeAsync(controlPayload(kind, producer, b), frameType(kind, port));
}
