/**
 * Single-thread cost of the ring's hot operations, no second thread involved (so no cache-line
 * traffic, no waiting): write 8192 64-byte frames, or drain 8192, per iteration; the other half
 * runs untimed in a hook. The reference minimal ring does the same. Read these as "ns per frame of
 * pure API overhead": they bound what the cross-thread suites can reach.
 */
import { SharedRing } from '../../src/ring/index.js';
import { budget, throughput } from '../lib/measure.js';
import { MinimalRing } from '../lib/minimal-ring.js';
import { SMALL_FIELDS, SMALL_FRAME_TYPE, SMALL_RECORD_BYTES, writeSmall } from '../lib/records.js';
import { quotient, type Suite } from '../lib/suite.js';

const FRAMES = 8192; // half of a 1 MiB ring of 64-byte frames
const RUN_FRAMES = 32; // frames per published run in the batch rows

export const ringOps: Suite = {
  name: 'ring-ops',
  title: 'Single-thread cost of ring operations (64-byte frames)',
  async run(ctx) {
    const b = budget(ctx.quick, { iterations: 200, time: 400, warmupIterations: 50, warmupTime: 100 });
    const ring = SharedRing.create({ capacity: 1 << 20, multiProducer: false });
    const f64 = new Float64Array(ring.buffer, ring.data.byteOffset, ring.capacity >> 3);
    const rec = new Float64Array(SMALL_FIELDS);
    const bytes = new Uint8Array(rec.buffer);
    let sum = 0;
    const onFrame = (_t: number, _d: Uint8Array, offset: number) => {
      const at = offset >> 3;
      sum += f64[at]! + f64[at + 1]! + f64[at + 2]! + f64[at + 3]! + f64[at + 4]! + f64[at + 5]! + f64[at + 6]!;
    };
    const drainAll = () => {
      let m = 0;
      while (m < FRAMES) m += ring.drain(onFrame);
    };
    const fillByClaim = () => {
      for (let i = 0; i < FRAMES; i++) {
        const off = ring.tryClaim(SMALL_FRAME_TYPE, SMALL_RECORD_BYTES);
        writeSmall(f64, off >> 3, i);
        ring.commit(off);
      }
    };
    const common = { items: FRAMES, unit: 'frames/s', sync: true, budget: b };

    ctx.report(
      await throughput({
        ...common,
        id: 'ops.ring.tryWrite',
        label: 'SharedRing tryWrite (copy from a scratch record)',
        hooks: { afterEach: drainAll },
        fn: () => {
          for (let i = 0; i < FRAMES; i++) {
            writeSmall(rec, 0, i);
            if (!ring.tryWrite(bytes, SMALL_FRAME_TYPE)) throw new Error('ring full');
          }
        },
      }),
    );
    ctx.report(
      await throughput({
        ...common,
        id: 'ops.ring.claimCommit',
        label: 'SharedRing tryClaim + fill in place + commit',
        hooks: { afterEach: drainAll },
        fn: () => {
          for (let i = 0; i < FRAMES; i++) {
            const off = ring.tryClaim(SMALL_FRAME_TYPE, SMALL_RECORD_BYTES);
            if (off < 0) throw new Error('ring full');
            writeSmall(f64, off >> 3, i);
            ring.commit(off);
          }
        },
      }),
    );
    let base = 0;
    const encode = (_data: Uint8Array, offset: number, k: number) => writeSmall(f64, offset >> 3, base + k);
    ctx.report(
      await throughput({
        ...common,
        id: 'ops.ring.encodeMany',
        label: `SharedRing tryEncodeMany, runs of ${RUN_FRAMES} frames encoded in place`,
        hooks: { afterEach: drainAll },
        fn: () => {
          for (base = 0; base < FRAMES; ) {
            const k = ring.tryEncodeMany(SMALL_FRAME_TYPE, SMALL_RECORD_BYTES, RUN_FRAMES, encode);
            if (k === 0) throw new Error('ring full');
            base += k;
          }
        },
      }),
    );
    const scratch = new Float64Array(RUN_FRAMES * SMALL_FIELDS);
    const views = Array.from({ length: RUN_FRAMES }, (_, k) => new Uint8Array(scratch.buffer, k * SMALL_RECORD_BYTES, SMALL_RECORD_BYTES));
    ctx.report(
      await throughput({
        ...common,
        id: 'ops.ring.writeMany',
        label: `SharedRing tryWriteMany, runs of ${RUN_FRAMES} (copy from scratch records)`,
        hooks: { afterEach: drainAll },
        fn: () => {
          for (let i = 0; i < FRAMES; i += RUN_FRAMES) {
            for (let k = 0; k < RUN_FRAMES; k++) writeSmall(scratch, k * SMALL_FIELDS, i + k);
            if (ring.tryWriteMany(views, SMALL_FRAME_TYPE) !== RUN_FRAMES) throw new Error('ring full');
          }
        },
      }),
    );
    ctx.report(
      await throughput({
        ...common,
        id: 'ops.ring.drain',
        label: 'SharedRing drain (handler sums the 7 fields)',
        hooks: { beforeEach: fillByClaim },
        fn: drainAll,
      }),
    );
    if (!(sum > 0)) throw new Error('drain handler saw nothing');

    const mini = MinimalRing.create(1 << 14);
    const mf64 = mini.f64;
    let msum = 0;
    const onSlot = (at: number) => {
      msum += mf64[at]! + mf64[at + 1]! + mf64[at + 2]! + mf64[at + 3]! + mf64[at + 4]! + mf64[at + 5]! + mf64[at + 6]!;
    };
    const miniFill = () => {
      for (let i = 0; i < FRAMES; i++) {
        writeSmall(mf64, mini.tryClaim(), i);
        mini.publish();
      }
    };
    const miniDrain = () => {
      let m = 0;
      while (m < FRAMES) m += mini.drain(onSlot);
    };
    ctx.report(
      await throughput({
        ...common,
        id: 'ops.minimal.publish',
        label: 'reference minimal ring: claim + fill + publish',
        hooks: { afterEach: miniDrain },
        fn: () => {
          for (let i = 0; i < FRAMES; i++) {
            const at = mini.tryClaim();
            if (at < 0) throw new Error('ring full');
            writeSmall(mf64, at, i);
            mini.publish();
          }
        },
      }),
    );
    ctx.report(await throughput({ ...common, id: 'ops.minimal.drain', label: 'reference minimal ring: drain', hooks: { beforeEach: miniFill }, fn: miniDrain }));
    if (!(msum > 0)) throw new Error('minimal drain handler saw nothing');
  },
  ratios: [
    {
      id: 'ops.ring.claimCommit/minimal.publish',
      label: 'single-thread write: SharedRing claim+commit / minimal ring (throughput)',
      compute: (f) => quotient(f.get('ops.ring.claimCommit')?.value, f.get('ops.minimal.publish')?.value),
    },
    {
      id: 'ops.ring.tryWrite/claimCommit',
      label: 'single-thread write: tryWrite / claim+commit (throughput)',
      compute: (f) => quotient(f.get('ops.ring.tryWrite')?.value, f.get('ops.ring.claimCommit')?.value),
    },
    {
      id: 'ops.ring.drain/minimal.drain',
      label: 'single-thread read: SharedRing drain / minimal ring drain (throughput)',
      compute: (f) => quotient(f.get('ops.ring.drain')?.value, f.get('ops.minimal.drain')?.value),
    },
  ],
};
