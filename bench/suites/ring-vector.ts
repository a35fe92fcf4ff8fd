/**
 * Suite 3 — VectorRecord through a ring, dim 4 and dim 128: encoded with the codec's
 * writeVectorRecord straight into claimed ring space, carried, and decoded in the worker with a
 * VectorReader (zero-copy vector view, every element summed, uid and ts read). Two producer
 * styles: one record per frame, and PACKED records back to back in one claimed frame.
 */
import { vectorRecordSize, writeVectorRecord } from '../../src/codec/index.js';
import { SharedRing } from '../../src/ring/index.js';
import { AckCounter } from '../lib/ack.js';
import { budget, throughput } from '../lib/measure.js';
import { best, bestId, quotient, type GoalDef, type RatioDef, type Suite, type SuiteContext } from '../lib/suite.js';
import { expectedVectorSum, PACKED_FRAME_TYPE, VECTOR_CYCLE, VECTOR_FRAME_TYPE, vectorWorkload, type VectorWorkload } from '../lib/vectors.js';
import { benchWorkerUrl, startWorker } from '../lib/workers.js';
import { VECTOR_DIMS } from './postmessage-vector.js';

const CAPACITY = 1 << 21;
const PACKED = 64;

type Writer = (ring: SharedRing, w: VectorWorkload, n: number) => Promise<void>;

const perFrame: Writer = async (ring, w, n) => {
  const size = vectorRecordSize(w.dim, 'Float32');
  const data = ring.data;
  for (let i = 0; i < n; i++) {
    const k = i & (VECTOR_CYCLE - 1);
    let off = ring.tryClaim(VECTOR_FRAME_TYPE, size);
    if (off < 0) off = await ring.claimAsync(VECTOR_FRAME_TYPE, size);
    writeVectorRecord(data, off, w.uids[k]!, w.ts[k]!, w.vectors[k]!, 'Float32');
    ring.commit(off);
  }
};

const packed: Writer = async (ring, w, n) => {
  const size = vectorRecordSize(w.dim, 'Float32');
  const data = ring.data;
  for (let i = 0; i < n; i += PACKED) {
    const count = Math.min(PACKED, n - i);
    let off = ring.tryClaim(PACKED_FRAME_TYPE, count * size);
    if (off < 0) off = await ring.claimAsync(PACKED_FRAME_TYPE, count * size);
    for (let r = 0, at = off; r < count; r++, at += size) {
      const k = (i + r) & (VECTOR_CYCLE - 1);
      writeVectorRecord(data, at, w.uids[k]!, w.ts[k]!, w.vectors[k]!, 'Float32');
    }
    ring.commit(off);
  }
};

async function runDim(ctx: SuiteContext, dim: number): Promise<void> {
  const w = vectorWorkload(dim);
  const ring = SharedRing.create({ capacity: CAPACITY, multiProducer: false });
  const ack = AckCounter.create();
  const sink = await startWorker('vector-sink', benchWorkerUrl('vector-sink.ts'), {
    mode: 'ring',
    dim,
    stride: w.stride,
    ack: ack.buffer,
    ring: ring.buffer,
  });
  const n = (ctx.quick ? 32 : dim > 16 ? 64 : 256) * VECTOR_CYCLE;
  const size = vectorRecordSize(dim, 'Float32');
  let expected = 0;
  try {
    for (const [style, write, label] of [
      ['frame', perFrame, 'one VectorRecord per frame'],
      ['packed', packed, `${PACKED} VectorRecords per frame`],
    ] as const) {
      const figure = await throughput({
        id: `vector${dim}.ring.${style}`,
        label: `dim ${dim}: ring, ${label} (encode+carry+decode)`,
        items: n,
        budget: budget(ctx.quick, { iterations: 8, time: 1000, warmupIterations: 3, warmupTime: 200 }),
        detail: { dim, recordBytes: size, ringCapacity: CAPACITY },
        fn: async () => {
          ack.reset();
          await write(ring, w, n);
          await ack.reach(n);
          expected += expectedVectorSum(w, n);
        },
      });
      if (ack.checksum !== expected) throw new Error(`vector${dim}.ring.${style}: checksum ${ack.checksum}, expected ${expected}`);
      ctx.report(figure);
    }
    ring.close();
    await sink.next('done');
  } finally {
    await sink.stop();
  }
}

const ids = (dim: number) => [`vector${dim}.ring.frame`, `vector${dim}.ring.packed`];

const ratios: RatioDef[] = VECTOR_DIMS.flatMap((dim) => [
  {
    id: `vector${dim}.ring.frame/postMessage.objects`,
    label: `dim ${dim}: ring (one record per frame) / postMessage objects`,
    compute: (f) => quotient(f.get(`vector${dim}.ring.frame`)?.value, f.get(`vector${dim}.postMessage.objects`)?.value),
  },
  {
    id: `vector${dim}.ring.packed/postMessage.objects`,
    label: `dim ${dim}: ring (${PACKED} per frame) / postMessage objects`,
    compute: (f) => quotient(f.get(`vector${dim}.ring.packed`)?.value, f.get(`vector${dim}.postMessage.objects`)?.value),
  },
  {
    id: `vector${dim}.ring.best/postMessage.transfer`,
    label: `dim ${dim}: ring (best style) / postMessage transferred batches`,
    compute: (f) => quotient(best(f, ids(dim)), f.get(`vector${dim}.postMessage.transfer`)?.value),
  },
]);

const goals: GoalDef[] = [
  {
    id: 'vector4.ring.rate',
    label: 'dim 4 VectorRecords/s through a ring (best style)',
    value: (f) => best(f, ids(4)),
    note: (f) => `best: ${bestId(f, ids(4)) ?? 'n/a'}`,
    op: '>=',
    target: 3e6,
    unit: 'rec/s',
  },
  {
    id: 'vector4.ring.vsPostMessage',
    label: 'dim 4 ring (best style) vs postMessage objects',
    value: (f) => quotient(best(f, ids(4)), f.get('vector4.postMessage.objects')?.value),
    note: (f) => `best: ${bestId(f, ids(4)) ?? 'n/a'}`,
    op: '>=',
    target: 10,
    unit: '×',
  },
];

export const ringVector: Suite = {
  name: 'ring-vector',
  title: 'VectorRecord dim 4 / 128: codec into claimed ring space → worker VectorReader',
  baselines: ['postmessage-vector'],
  async run(ctx) {
    for (const dim of VECTOR_DIMS) await runDim(ctx, dim);
  },
  ratios,
  goals,
};
