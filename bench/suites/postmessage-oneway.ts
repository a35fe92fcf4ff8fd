/**
 * Suite 2 — baseline: postMessage one-way main→worker, the same small records as ring-oneway:
 * (a) one structured-clone object per record; (b) transferred ArrayBuffers of SMALL_BATCH records.
 * The worker sums every field and acknowledges through the same shared counter as the ring sink.
 */
import { AckCounter } from '../lib/ack.js';
import { budget, throughput } from '../lib/measure.js';
import { expectedSmallSum, SMALL_BATCH, SMALL_FIELDS, SMALL_RECORD_BYTES, smallObject, writeSmall } from '../lib/records.js';
import type { Suite } from '../lib/suite.js';
import { benchWorkerUrl, startWorker } from '../lib/workers.js';

export const postMessageOneWay: Suite = {
  name: 'postmessage-oneway',
  title: 'Baseline: postMessage one-way main→worker, same small records',
  async run(ctx) {
    const ack = AckCounter.create();
    const sink = await startWorker('postmessage-sink', benchWorkerUrl('postmessage-sink.ts'), { ack: ack.buffer });
    const { worker } = sink;
    let expected = 0;
    try {
      const nObjects = ctx.quick ? 10_000 : 40_000;
      const objects = await throughput({
        id: 'oneway.postMessage.objects',
        label: 'postMessage, one small object per message (clone)',
        unit: 'msg/s',
        items: nObjects,
        budget: budget(ctx.quick, { iterations: 10, time: 1000, warmupIterations: 3, warmupTime: 200 }),
        fn: async () => {
          ack.reset();
          for (let i = 0; i < nObjects; i++) worker.postMessage(smallObject(i));
          await ack.reach(nObjects);
          expected += expectedSmallSum(nObjects);
        },
      });
      if (ack.checksum !== expected) throw new Error(`postMessage objects: checksum ${ack.checksum}, expected ${expected}`);
      ctx.report(objects);

      const nBatched = (ctx.quick ? 64 : 512) * SMALL_BATCH;
      const transfer = await throughput({
        id: 'oneway.postMessage.transfer',
        label: `postMessage, transferred ArrayBuffer of ${SMALL_BATCH} records`,
        items: nBatched,
        budget: budget(ctx.quick, { iterations: 10, time: 1000, warmupIterations: 3, warmupTime: 200 }),
        detail: { recordsPerMessage: SMALL_BATCH },
        fn: async () => {
          ack.reset();
          for (let i = 0; i < nBatched; i += SMALL_BATCH) {
            const buf = new ArrayBuffer(SMALL_BATCH * SMALL_RECORD_BYTES);
            const f64 = new Float64Array(buf);
            for (let r = 0, at = 0; r < SMALL_BATCH; r++, at += SMALL_FIELDS) writeSmall(f64, at, i + r);
            worker.postMessage(buf, [buf]);
          }
          await ack.reach(nBatched);
          expected += expectedSmallSum(nBatched);
        },
      });
      if (ack.checksum !== expected) throw new Error(`postMessage transfer: checksum ${ack.checksum}, expected ${expected}`);
      ctx.report(transfer);
    } finally {
      await sink.stop();
    }
  },
};
