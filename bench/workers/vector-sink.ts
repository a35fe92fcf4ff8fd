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
import { data, port, ready, sendCtl } from '../lib/worker-side.js';

interface Config {
  mode: 'ring' | 'postMessage';
  dim: number;
  stride: number;
  ack: SharedArrayBuffer;
  ring?: SharedArrayBuffer;
}
const cfg = data<Config>();
const ack = AckCounter.attach(cfg.ack);
let sum = 0;
let records = 0;

if (cfg.mode === 'ring') {
  const ring = SharedRing.attach(cfg.ring!);
  const reader = new VectorReader(ring.data);
  const size = vectorRecordSize(cfg.dim, 'Float32');
  const readOne = (at: number) => {
    reader.read(at);
    sum += Number(reader.uid) + reader.ts;
    const v = reader.vector();
    for (let j = 0; j < v.length; j++) sum += v[j]!;
  };
  const onFrame = (type: number, _d: Uint8Array, offset: number, length: number) => {
    if (type === PACKED_FRAME_TYPE) {
      for (let at = offset, end = offset + length; at < end; at += size) readOne(at);
      records += length / size;
    } else {
      readOne(offset);
      records++;
    }
  };
  ready();
  let acked = 0;
  while (ring.waitReadable()) {
    ring.drain(onFrame);
    if (records !== acked) {
      ack.add(records - acked, sum);
      acked = records;
    }
  }
  sendCtl('done', { records, sum });
} else {
  port().on('message', (m: unknown) => {
    if (m instanceof ArrayBuffer) {
      const r = sumVectorBatch(m, cfg.dim, cfg.stride);
      sum += r.sum;
      ack.add(r.count, sum);
    } else if (m !== null && typeof m === 'object' && 'vector' in m) {
      const r = m as { uid: bigint; ts: number; vector: Float32Array };
      sum += Number(r.uid) + r.ts;
      const v = r.vector;
      for (let j = 0; j < v.length; j++) sum += v[j]!;
      ack.add(1, sum);
    }
  });
  ready();
}
