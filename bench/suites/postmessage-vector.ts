/**
 * Baseline for the VectorRecord suite: postMessage main→worker of `{ uid, ts, vector }` objects
 * (structured clone, Float32Array copied) and of transferred ArrayBuffers holding 1024 records in
 * a flat layout; the worker sums uid, ts and every element, like the ring consumer.
 */
import { AckCounter } from '../lib/ack.js';
import { budget, throughput } from '../lib/measure.js';
import type { Suite, SuiteContext } from '../lib/suite.js';
import { expectedVectorSum, fillVectorBatch, VECTOR_CYCLE, vectorWorkload } from '../lib/vectors.js';
import { benchWorkerUrl, startWorker } from '../lib/workers.js';

export const VECTOR_DIMS = [4, 128] as const;

async function runDim(ctx: SuiteContext, dim: number): Promise<void> {
  const w = vectorWorkload(dim);
  const ack = AckCounter.create();
  const sink = await startWorker('vector-sink', benchWorkerUrl('vector-sink.ts'), {
    mode: 'postMessage',
    dim,
    stride: w.stride,
    ack: ack.buffer,
  });
  const { worker } = sink;
  let expected = 0;
  try {
    const nObjects = (ctx.quick ? 8 : 32) * VECTOR_CYCLE;
    const objects = await throughput({
      id: `vector${dim}.postMessage.objects`,
      label: `dim ${dim}: postMessage {uid, ts, vector: Float32Array} (clone)`,
      items: nObjects,
      budget: budget(ctx.quick, { iterations: 8, time: 1000, warmupIterations: 2, warmupTime: 200 }),
      detail: { dim },
      fn: async () => {
        ack.reset();
        for (let i = 0; i < nObjects; i++) {
          const k = i & (VECTOR_CYCLE - 1);
          worker.postMessage({ uid: w.uids[k], ts: w.ts[k], vector: w.vectors[k] });
        }
        await ack.reach(nObjects);
        expected += expectedVectorSum(w, nObjects);
      },
    });
    if (ack.checksum !== expected) throw new Error(`vector${dim} postMessage objects: checksum ${ack.checksum}, expected ${expected}`);
    ctx.report(objects);

    const nBatched = (ctx.quick ? 32 : dim > 16 ? 64 : 256) * VECTOR_CYCLE;
    const transfer = await throughput({
      id: `vector${dim}.postMessage.transfer`,
      label: `dim ${dim}: postMessage, transferred batch of ${VECTOR_CYCLE} records`,
      items: nBatched,
      budget: budget(ctx.quick, { iterations: 8, time: 1000, warmupIterations: 2, warmupTime: 200 }),
      detail: { dim, recordsPerMessage: VECTOR_CYCLE, bytesPerRecord: w.stride },
      fn: async () => {
        ack.reset();
        for (let i = 0; i < nBatched; i += VECTOR_CYCLE) {
          const buf = fillVectorBatch(w, i, VECTOR_CYCLE);
          worker.postMessage(buf, [buf]);
        }
        await ack.reach(nBatched);
        expected += expectedVectorSum(w, nBatched);
      },
    });
    if (ack.checksum !== expected) throw new Error(`vector${dim} postMessage transfer: checksum ${ack.checksum}, expected ${expected}`);
    ctx.report(transfer);
  } finally {
    await sink.stop();
  }
}

export const postMessageVector: Suite = {
  name: 'postmessage-vector',
  title: 'Baseline: postMessage of vector records, dim 4 and 128',
  async run(ctx) {
    for (const dim of VECTOR_DIMS) await runDim(ctx, dim);
  },
};
