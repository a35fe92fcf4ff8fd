/**
 * The VectorRecord workload, identical on every path: record i carries uid k, ts 1000 + k and
 * vector k of `dim` Float32 values `(k + j) & 15`, where k = i & 1023 (the vectors are made once,
 * so the suites time moving and coding them, not making them). Every consumer sums uid, ts and all
 * elements; the suites check the sums.
 *
 * Transferred batches (the postMessage baseline) use a flat layout, not FlatBuffers:
 * `uid u64 | ts f64 | dim × f32` per record, 8-byte aligned.
 */
export const VECTOR_CYCLE = 1024;
export const VECTOR_FRAME_TYPE = 0;
/** A frame holding several VectorRecords back to back (each `vectorRecordSize` bytes). */
export const PACKED_FRAME_TYPE = 2;

export interface VectorWorkload {
  dim: number;
  uids: bigint[];
  ts: number[];
  vectors: Float32Array[];
  /** Checksum of records k = 0..1023. */
  cycleSum: number;
  /** Bytes per record in a transferred batch. */
  stride: number;
}

export function vectorWorkload(dim: number): VectorWorkload {
  const uids: bigint[] = [];
  const ts: number[] = [];
  const vectors: Float32Array[] = [];
  let cycleSum = 0;
  for (let k = 0; k < VECTOR_CYCLE; k++) {
    uids.push(BigInt(k));
    ts.push(1000 + k);
    const v = new Float32Array(dim);
    for (let j = 0; j < dim; j++) v[j] = (k + j) & 15;
    vectors.push(v);
    cycleSum += k + 1000 + k;
    for (let j = 0; j < dim; j++) cycleSum += v[j]!;
  }
  return { dim, uids, ts, vectors, cycleSum, stride: 16 + ((dim * 4 + 7) & ~7) };
}

/** Checksum of records 0..n-1; n must be a multiple of VECTOR_CYCLE. */
export function expectedVectorSum(w: VectorWorkload, n: number): number {
  if (n % VECTOR_CYCLE !== 0) throw new RangeError(`n must be a multiple of ${VECTOR_CYCLE}`);
  return (n / VECTOR_CYCLE) * w.cycleSum;
}

/** Fills a transferable batch with records first..first+count-1. */
export function fillVectorBatch(w: VectorWorkload, first: number, count: number): ArrayBuffer {
  const buf = new ArrayBuffer(count * w.stride);
  const u64 = new BigUint64Array(buf);
  const f64 = new Float64Array(buf);
  const f32 = new Float32Array(buf);
  for (let r = 0, at = 0; r < count; r++, at += w.stride) {
    const k = (first + r) & (VECTOR_CYCLE - 1);
    u64[at >> 3] = w.uids[k]!;
    f64[(at >> 3) + 1] = w.ts[k]!;
    f32.set(w.vectors[k]!, (at >> 2) + 4);
  }
  return buf;
}

/** The consumer side of fillVectorBatch: the checksum of one batch. */
export function sumVectorBatch(buf: ArrayBuffer, dim: number, stride: number): { count: number; sum: number } {
  const u64 = new BigUint64Array(buf);
  const f64 = new Float64Array(buf);
  const f32 = new Float32Array(buf);
  const count = buf.byteLength / stride;
  let sum = 0;
  for (let r = 0, at = 0; r < count; r++, at += stride) {
    sum += Number(u64[at >> 3]!) + f64[(at >> 3) + 1]!;
    const v = (at >> 2) + 4;
    for (let j = 0; j < dim; j++) sum += f32[v + j]!;
  }
  return { count, sum };
}
