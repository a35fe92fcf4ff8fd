/**
 * Consumer of the VectorRecord suites. mode 'ring': blocks on the ring, reads each VectorRecord in
 * place with the codec's VectorReader (one record per frame, or several packed in one frame) and
 * sums uid, ts and every element of the zero-copy vector. mode 'postMessage': receives
 * `{ uid, ts, vector }` objects (structured clone) or transferred flat batches and sums the same.
 * Acknowledges through the shared counter in both modes.
 */
import { VectorReader, vectorRecordSize } from '../../src/codec/index.js';
import { SharedRing } from '../../src/ring/index.js';
import { AckCounter } from '../lib/ack.js';
import { PACKED_FRAME_TYPE, sumVectorBatch } from '../lib/vectors.js';
import { data, port, ready } from '../lib/worker-side.js';
import { sinkRing } from './ring-sink-loop.js';

interface Config {
  mode: 'ring' | 'postMessage';
  dim: number;
  stride: number;
  ack: SharedArrayBuffer;
  ring?: SharedArrayBuffer;
}
const cfg = data<Config>();
const ack = AckCounter.attach(cfg.ack);
const totals = { records: 0, sum: 0 };

if (cfg.mode === 'ring') {
  const ring = SharedRing.attach(cfg.ring!);
  const reader = new VectorReader(ring.data);
  const size = vectorRecordSize(cfg.dim, 'Float32');
  const readOne = (at: number) => {
    reader.read(at);
    totals.sum += Number(reader.uid) + reader.ts;
    const v = reader.vector();
    for (let j = 0; j < v.length; j++) totals.sum += v[j]!;
  };
  const onFrame = (type: number, _d: Uint8Array, offset: number, length: number) => {
    if (type === PACKED_FRAME_TYPE) {
      for (let at = offset, end = offset + length; at < end; at += size) readOne(at);
      totals.records += length / size;
    } else {
      readOne(offset);
      totals.records++;
    }
  };
  sinkRing(ring, ack, totals, onFrame);
} else {
  port().on('message', (m: unknown) => {
    if (m instanceof ArrayBuffer) {
      const r = sumVectorBatch(m, cfg.dim, cfg.stride);
      totals.sum += r.sum;
      ack.add(r.count, totals.sum);
    } else if (m !== null && typeof m === 'object' && 'vector' in m) {
      const r = m as { uid: bigint; ts: number; vector: Float32Array };
      totals.sum += Number(r.uid) + r.ts;
      const v = r.vector;
      for (let j = 0; j < v.length; j++) totals.sum += v[j]!;
      ack.add(1, totals.sum);
    }
  });
  ready();
}
