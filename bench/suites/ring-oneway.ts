/**
 * Suite 1 — ring one-way main→worker, 64-byte frames (56-byte small records + 8-byte header).
 *
 * The main thread writes (tryWrite; when the ring is full it awaits writeAsync, which parks with
 * Atomics.waitAsync); a worker blocks in waitReadable (spin-then-park), drains zero-copy, sums every
 * field and acknowledges. One tinybench iteration = write N frames and await the acknowledgement of
 * all N, so the figure is end to end (until the worker has consumed everything).
 */
import { SharedRing } from '../../src/ring/index.js';
import { AckCounter } from '../lib/ack.js';
import { budget, throughput } from '../lib/measure.js';
import {
  expectedSmallSum,
  SMALL_BATCH,
  SMALL_BATCH_FRAME_TYPE,
  SMALL_FIELDS,
  SMALL_FRAME_TYPE,
  SMALL_RECORD_BYTES,
  writeSmall,
} from '../lib/records.js';
import { best, bestId, quotient, type Suite, type SuiteContext } from '../lib/suite.js';
import { benchWorkerUrl, startWorker } from '../lib/workers.js';

const CAPACITY = 1 << 20; // 1 MiB: 16 384 frames of 64 bytes
const CLAIM_BATCH = 32;

type Writer = (ring: SharedRing, n: number) => Promise<void>;

/** tryWrite from a scratch record; awaits writeAsync when the ring is full. */
const viaTryWrite: Writer = async (ring, n) => {
  const rec = new Float64Array(SMALL_FIELDS);
  const bytes = new Uint8Array(rec.buffer);
  for (let i = 0; i < n; i++) {
    writeSmall(rec, 0, i);
    if (!ring.tryWrite(bytes, SMALL_FRAME_TYPE)) await ring.writeAsync(bytes, SMALL_FRAME_TYPE);
  }
};

function ringFloats(ring: SharedRing): Float64Array {
  return new Float64Array(ring.buffer, ring.data.byteOffset, ring.capacity >> 3);
}

/** tryClaim, encode the record in place, commit: no scratch copy. */
const viaClaim: Writer = async (ring, n) => {
  const f64 = ringFloats(ring);
  for (let i = 0; i < n; i++) {
    let off = ring.tryClaim(SMALL_FRAME_TYPE, SMALL_RECORD_BYTES);
    if (off < 0) off = await ring.claimAsync(SMALL_FRAME_TYPE, SMALL_RECORD_BYTES);
    writeSmall(f64, off >> 3, i);
    ring.commit(off);
  }
};

/** Claims up to CLAIM_BATCH frames, fills them, then commits them in order. */
const viaClaimBatch: Writer = async (ring, n) => {
  const f64 = ringFloats(ring);
  const offs = new Int32Array(CLAIM_BATCH);
  let i = 0;
  while (i < n) {
    const want = Math.min(CLAIM_BATCH, n - i);
    let k = 0;
    for (; k < want; k++) {
      const off = ring.tryClaim(SMALL_FRAME_TYPE, SMALL_RECORD_BYTES);
      if (off < 0) break;
      writeSmall(f64, off >> 3, i + k);
      offs[k] = off;
    }
    for (let j = 0; j < k; j++) ring.commit(offs[j]!);
    i += k;
    if (k === 0) {
      const off = await ring.claimAsync(SMALL_FRAME_TYPE, SMALL_RECORD_BYTES);
      writeSmall(f64, off >> 3, i);
      ring.commit(off);
      i++;
    }
  }
};

/** One frame carries SMALL_BATCH records (a RecordBatch-like frame): n must be a multiple of it. */
const viaBatchFrames: Writer = async (ring, n) => {
  const f64 = ringFloats(ring);
  const bytes = SMALL_BATCH * SMALL_RECORD_BYTES;
  for (let i = 0; i < n; i += SMALL_BATCH) {
    let off = ring.tryClaim(SMALL_BATCH_FRAME_TYPE, bytes);
    if (off < 0) off = await ring.claimAsync(SMALL_BATCH_FRAME_TYPE, bytes);
    for (let r = 0, at = off >> 3; r < SMALL_BATCH; r++, at += SMALL_FIELDS) writeSmall(f64, at, i + r);
    ring.commit(off);
  }
};

interface Variant {
  id: string;
  label: string;
  unit: string;
  write: Writer;
}

async function runRing(ctx: SuiteContext, multiProducer: boolean, variants: Variant[]): Promise<void> {
  const ring = SharedRing.create({ capacity: CAPACITY, multiProducer });
  const ack = AckCounter.create();
  const sink = await startWorker('ring-sink', benchWorkerUrl('ring-sink.ts'), { ring: ring.buffer, ack: ack.buffer });
  const n = ctx.quick ? 1 << 17 : 1 << 19;
  let expected = 0;
  try {
    for (const v of variants) {
      const figure = await throughput({
        id: v.id,
        label: v.label,
        unit: v.unit,
        items: n,
        budget: budget(ctx.quick, { iterations: 6, time: 1000, warmupIterations: 2, warmupTime: 200 }),
        detail: { ringCapacity: CAPACITY, multiProducer, recordBytes: SMALL_RECORD_BYTES },
        fn: async () => {
          ack.reset();
          await v.write(ring, n);
          await ack.reach(n);
          expected += expectedSmallSum(n);
        },
      });
      if (ack.checksum !== expected) throw new Error(`${v.id}: consumer checksum ${ack.checksum}, expected ${expected}`);
      ctx.report(figure);
    }
    ring.close();
    await sink.next('done');
  } finally {
    await sink.stop();
  }
}

const FRAME_IDS = ['oneway.ring.tryWrite', 'oneway.ring.claim', 'oneway.ring.claimBatch'];

export const ringOneWay: Suite = {
  name: 'ring-oneway',
  title: 'Ring one-way main→worker, 64-byte frames',
  baselines: ['postmessage-oneway', 'ring-minimal'],
  async run(ctx) {
    await runRing(ctx, false, [
      { id: 'oneway.ring.tryWrite', label: 'ring SPSC tryWrite/writeAsync, 64 B frames', unit: 'frames/s', write: viaTryWrite },
      { id: 'oneway.ring.claim', label: 'ring SPSC tryClaim+commit in place', unit: 'frames/s', write: viaClaim },
      {
        id: 'oneway.ring.claimBatch',
        label: `ring SPSC claim ${CLAIM_BATCH} then commit ${CLAIM_BATCH}`,
        unit: 'frames/s',
        write: viaClaimBatch,
      },
      {
        id: 'oneway.ring.batchFrame',
        label: `ring SPSC ${SMALL_BATCH} records per frame`,
        unit: 'rec/s',
        write: viaBatchFrames,
      },
    ]);
    await runRing(ctx, true, [
      { id: 'oneway.ring.tryWrite.mpsc', label: 'ring MPSC (CAS) tryWrite/writeAsync', unit: 'frames/s', write: viaTryWrite },
    ]);
  },
  ratios: [
    {
      id: 'oneway.ring.best/postMessage.objects',
      label: 'ring one-way (best per-frame style) / postMessage objects',
      compute: (f) => quotient(best(f, FRAME_IDS), f.get('oneway.postMessage.objects')?.value),
    },
    {
      id: 'oneway.ring.tryWrite/postMessage.objects',
      label: 'ring tryWrite / postMessage objects',
      compute: (f) => quotient(f.get('oneway.ring.tryWrite')?.value, f.get('oneway.postMessage.objects')?.value),
    },
    {
      id: 'oneway.ring.best/postMessage.transfer',
      label: 'ring one-way (best per-frame style) / postMessage transferred batches',
      compute: (f) => quotient(best(f, FRAME_IDS), f.get('oneway.postMessage.transfer')?.value),
    },
    {
      id: 'oneway.ring.batchFrame/postMessage.transfer',
      label: `ring ${SMALL_BATCH}-record frames / postMessage transferred ${SMALL_BATCH}-record batches`,
      compute: (f) => quotient(f.get('oneway.ring.batchFrame')?.value, f.get('oneway.postMessage.transfer')?.value),
    },
    {
      id: 'oneway.ring.best/minimalRing',
      label: 'SharedRing (best per-frame style) / reference minimal ring',
      compute: (f) => quotient(best(f, FRAME_IDS), f.get('oneway.minimalRing')?.value),
    },
    {
      id: 'oneway.ring.tryWrite.mpsc/spsc',
      label: 'ring tryWrite MPSC / SPSC',
      compute: (f) => quotient(f.get('oneway.ring.tryWrite.mpsc')?.value, f.get('oneway.ring.tryWrite')?.value),
    },
  ],
  goals: [
    {
      id: 'oneway.ring.frames',
      label: 'ring one-way 64 B frames/s (best per-frame style)',
      value: (f) => best(f, FRAME_IDS),
      note: (f) => `best: ${bestId(f, FRAME_IDS) ?? 'n/a'}`,
      op: '>=',
      target: 10e6,
      unit: 'frames/s',
    },
    {
      id: 'oneway.ring.vsPostMessage',
      label: 'ring one-way vs postMessage small objects',
      value: (f) => quotient(best(f, FRAME_IDS), f.get('oneway.postMessage.objects')?.value),
      op: '>=',
      target: 30,
      unit: '×',
    },
  ],
};
