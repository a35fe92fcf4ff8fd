/**
 * Reference for suite 1 (not ringflow code): the same 64-byte one-way workload through the minimal
 * SPSC slot ring in lib/minimal-ring.ts, measured the same way. It shows, in the same run, what
 * this machine allows, so SharedRing's overhead can be read as a ratio.
 */
import { AckCounter } from '../lib/ack.js';
import { budget, throughput } from '../lib/measure.js';
import { MinimalRing } from '../lib/minimal-ring.js';
import { expectedSmallSum, writeSmall } from '../lib/records.js';
import type { Suite } from '../lib/suite.js';
import { benchWorkerUrl, startWorker } from '../lib/workers.js';

export const ringMinimal: Suite = {
  name: 'ring-minimal',
  title: 'Reference: minimal SPSC slot ring (bench code, not ringflow), 64-byte frames',
  async run(ctx) {
    const ring = MinimalRing.create(1 << 14); // 1 MiB of slots, like suite 1
    const ack = AckCounter.create();
    const sink = await startWorker('minimal-sink', benchWorkerUrl('minimal-sink.ts'), { ring: ring.buffer, ack: ack.buffer });
    const n = ctx.quick ? 1 << 17 : 1 << 19;
    let expected = 0;
    try {
      const f64 = ring.f64;
      const figure = await throughput({
        id: 'oneway.minimalRing',
        label: 'reference minimal SPSC ring, 64 B slots',
        unit: 'frames/s',
        items: n,
        budget: budget(ctx.quick, { iterations: 6, time: 1000, warmupIterations: 2, warmupTime: 200 }),
        fn: async () => {
          ack.reset();
          for (let i = 0; i < n; i++) {
            let at = ring.tryClaim();
            if (at < 0) {
              await ring.room();
              at = ring.tryClaim();
            }
            writeSmall(f64, at, i);
            ring.publish();
          }
          await ack.reach(n);
          expected += expectedSmallSum(n);
        },
      });
      if (ack.checksum !== expected) throw new Error(`minimal ring: checksum ${ack.checksum}, expected ${expected}`);
      ctx.report(figure);
    } finally {
      await sink.stop();
    }
  },
};
