import { encodeEnvelope, EnvelopeReader, VectorReader, vectorRecordSize, writeVectorRecord, type VectorArray } from '../codec/index.js';
import type { SharedRing } from '../ring/index.js';

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
  /** Payload: producer int32, pad, watermark float64. */
  Watermark: 8,
  /** Payload: producer int32, epoch int32. */
  Barrier: 9,
  /** Payload: producer int32. The producer will send nothing more. */
  End: 10,
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
  return keys === 3 && v.uid >= 0n && v.uid < 1n << 64n;
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
    if (isVectorRecord(value)) {
      this.kind = FrameKind.Vector;
      this.vector = value;
      this.envelope = undefined;
      this.size = vectorRecordSize(value.vector.length, value.vector instanceof Float64Array ? 'Float64' : 'Float32');
    } else {
      this.kind = FrameKind.Value;
      this.vector = undefined;
      this.envelope = encodeEnvelope(value, { ts });
      this.size = this.envelope.length;
    }
    return this;
  }

  /** Writes the record into claimed space at `offset` of `data`. */
  writeInto(data: Uint8Array, offset: number): void {
    const v = this.vector;
    if (v !== undefined) writeVectorRecord(data, offset, v.uid, v.ts, v.vector, v.vector instanceof Float64Array ? 'Float64' : 'Float32');
    else data.set(this.envelope!, offset);
  }
}

/** Decodes records out of one ring's data region; copies, so values outlive the frame. */
export class RecordDecoder {
  private readonly vectors: VectorReader;
  private readonly envelopes: EnvelopeReader;
  /** Event time of the record last decoded. */
  ts = 0;

  constructor(data: Uint8Array) {
    this.vectors = new VectorReader(data);
    this.envelopes = new EnvelopeReader(data);
  }

  decode(kind: number, offset: number): unknown {
    if (kind === FrameKind.Vector) {
      const r = this.vectors.read(offset);
      this.ts = r.ts;
      return { uid: r.uid, ts: this.ts, vector: r.copyVector() } satisfies VectorRecord;
    }
    const e = this.envelopes.read(offset);
    this.ts = e.ts;
    return e.value();
  }
}

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
  if (kind === FrameKind.Barrier) scratch.setInt32(4, b, true);
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

/** Writes one control mark into `ring`, blocking (worker threads). */
export function writeControl(ring: SharedRing, kind: number, producer: number, b = 0, port = 0): void {
  ring.write(controlPayload(kind, producer, b), frameType(kind, port));
}

/** Writes one control mark into `ring` without blocking. */
export function writeControlAsync(ring: SharedRing, kind: number, producer: number, b = 0, port = 0): Promise<void> {
  return ring.writeAsync(controlPayload(kind, producer, b), frameType(kind, port));
}
