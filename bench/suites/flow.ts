/**
 * Dataflow (issue 3): SageFlowService and the stream runtime against Piscina, in one run.
 *
 * - flow.sage.cold: a fresh service's first push of 500 k dim-128 vectors and one run(), measured first.
 * - flow.sage: N dim-128 vectors pushed and run through filter → map → sink on 2 workers
 *   (4 rounds of push N/4 + run()), vectors/s; the main thread's event-loop delay meanwhile.
 *   flow.sage.views: the same with a sink that takes vector views (no owned copy per batch);
 *   flow.sage.zeroCopy: operators get views too, so no vector is copied between push and sink.
 * - Baselines: the same filter → map with Piscina run() per record (256 in flight), and per
 *   transferred 1024-record batch (4 in flight). The batch baseline and the three flow.sage
 *   figures are timed in turns, one iteration each (see Contender).
 * - flow.scale: a CPU-bound map on 1 and on 2 workers.
 * - flow.latency: one vector pushed and run at a time: push → sink callback, µs.
 * - flow.memory: records streamed from a lazy source to a slow sink: RSS growth while streaming.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { SageFlowService } from '../../src/flow/index.js';
import { StreamEnvironment, STOP, type DataStream, type VectorRecord } from '../../src/stream/index.js';
import { interleaved, timedFigure, type Contender } from '../lib/interleave.js';
import { quotient, type FigureInput, type Suite, type SuiteContext } from '../lib/suite.js';
import { benchWorkerUrl } from '../lib/workers.js';

const DIM = 128;

function testVectors(count: number): Float32Array[] {
  // A small pool reused by index: generating the input is not what is measured.
  return Array.from({ length: Math.min(count, 1024) }, (_, i) => Float32Array.from({ length: DIM }, (_, d) => ((i * 31 + d * 7) % 97) / 97 - (i % 10 === 0 ? 1 : 0)));
}

/** The measured pipeline: drop the rows whose first element is negative, double the rest. */
function filterThenDouble(s: DataStream<VectorRecord>): DataStream<VectorRecord> {
  return s.filter((r) => r.vector[0]! >= 0).map((r) => {
    const v = r.vector;
    for (let i = 0; i < v.length; i++) v[i]! *= 2;
    return r;
  });
}

/**
 * How the pipeline hands vectors over: 'owned' (the defaults: operators and the sink get their own
 * copies), 'views' (the sink gets views), 'zeroCopy' (operators and the sink get views over the
 * queue's shared memory: nothing is copied between push and sink).
 */
type Handover = 'owned' | 'views' | 'zeroCopy';

function sageFlow(ctx: SuiteContext, handover: Handover): Contender {
  const total = ctx.quick ? 200_000 : 1_000_000;
  const rounds = 4;
  const vectorViews = handover !== 'owned';
  const pool = testVectors(total);
  // Node's delay monitor, disabled and enabled again, counts the whole time it was off as one delay
  // (the caller's push loop here), and monitors cannot be merged: so each run() gets a fresh one.
  const loops: IntervalHistogram[] = [];
  let pushMs = 0;
  let timedMs = 0;
  return {
    async iterate(last) {
      const svc = new SageFlowService({ dim: DIM, workers: 2, zeroCopyVectors: handover === 'zeroCopy' });
      let received = 0;
      svc.transform(filterThenDouble);
      svc.setSink(() => void received++, 'count', { vectorViews });
      const pushRound = (n: number, base: number) => {
        // uids as numbers, as a JS caller has them (a bigint uid is taken as well).
        for (let i = 0; i < n; i++) svc.push(base + i, pool[(base + i) % pool.length]!);
      };
      try {
        // Not timed: deploys the pipeline, and fills the queue once, so its shared memory is mapped.
        pushRound(total / rounds, 0);
        await svc.run();
        received = 0;
        const t0 = performance.now();
        for (let r = 0; r < rounds; r++) {
          const p0 = performance.now();
          pushRound(total / rounds, r * (total / rounds));
          pushMs += performance.now() - p0;
          // The event-loop delay is sampled while the pipeline runs (the push loop above is the
          // caller's own synchronous code).
          const monitor = last ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
          monitor?.enable();
          await svc.run();
          monitor?.disable();
          if (monitor) loops.push(monitor);
        }
        const ms = performance.now() - t0;
        timedMs += ms;
        if (received === 0) throw new Error('the sink received nothing');
        return ms;
      } finally {
        await svc.close();
      }
    },
    report(ms) {
      ctx.report(timedFigure(SAGE_FIGURES[handover].id, SAGE_FIGURES[handover].label, total, ms, 'vec/s', { pushShareOfTime: pushMs / timedMs }));
      reportEventLoop(ctx, loops, handover);
    },
  };
}

const SAGE_FIGURES: Record<Handover, { id: string; label: string; loopLabel: string }> = {
  owned: {
    id: 'flow.sage',
    label: `SageFlowService push + run, filter → map → sink, dim ${DIM}, 2 workers (defaults: operators and sink own their vectors)`,
    loopLabel: 'main-thread event-loop delay p99 while SageFlowService runs at full speed (defaults; worst run() of 4)',
  },
  views: {
    id: 'flow.sage.views',
    label: '  the same, sink given vector views (vectorViews: true)',
    loopLabel: '  event-loop delay p99, sink given vector views',
  },
  zeroCopy: {
    id: 'flow.sage.zeroCopy',
    label: '  the same, zero-copy: operators and sink given views (zeroCopyVectors + vectorViews)',
    loopLabel: '  event-loop delay p99, zero-copy',
  },
};

/** The figure is the worst run()'s p99 (at least the p99 of all the samples together). */
function reportEventLoop(ctx: SuiteContext, loops: IntervalHistogram[], handover: Handover): void {
  const worst = loops.reduce((a, b) => (b.percentile(99) > a.percentile(99) ? b : a));
  ctx.report({
    id: `${SAGE_FIGURES[handover].id}.eventLoopP99`,
    label: SAGE_FIGURES[handover].loopLabel,
    kind: 'latency',
    unit: 'µs',
    statistic: 'p99',
    value: worst.percentile(99) / 1000,
    p50: worst.percentile(50) / 1000,
    p99: worst.percentile(99) / 1000,
    max: Math.max(...loops.map((l) => l.max)) / 1000,
    samples: loops.reduce((n, l) => n + l.count, 0),
  });
}

/** The baselines' sink: what SageFlowService's sink callback does in flow.sage (count the record). */
let sunk = 0;
function sink(_uid: bigint | number, _ts: number, vector: Float32Array): void {
  if (vector.length === DIM) sunk++;
}

async function piscinaPerRecord(ctx: SuiteContext): Promise<void> {
  const pool = new Piscina({ filename: benchWorkerUrl('flow-piscina.mjs').href, minThreads: 2, maxThreads: 2, idleTimeout: 60_000 });
  const vectors = testVectors(4096);
  try {
    // One run() per record, 256 in flight.
    const perRecordCount = ctx.quick ? 20_000 : 100_000;
    const ms: number[] = [];
    for (let it = 0; it < (ctx.quick ? 1 : 3); it++) {
      const t0 = performance.now();
      let next = 0;
      let kept = 0;
      const lane = async () => {
        while (next < perRecordCount) {
          const i = next++;
          const out = (await pool.run({ uid: BigInt(i), ts: Date.now(), vector: vectors[i % vectors.length]!.slice() }, { name: 'perRecord' })) as
            | { uid: bigint; ts: number; vector: Float32Array }
            | null;
          if (out) {
            kept++;
            sink(out.uid, out.ts, out.vector);
          }
        }
      };
      await Promise.all(Array.from({ length: 256 }, lane));
      ms.push(performance.now() - t0);
      if (kept === 0) throw new Error('piscina per-record kept nothing');
    }
    ctx.report(timedFigure('flow.piscina.perRecord', 'Piscina run() per record (cloned), 256 in flight, 2 threads (sink per record)', perRecordCount, ms, 'vec/s'));
  } finally {
    await pool.destroy();
  }
}

/** Piscina run() per transferred 1024-record batch, 4 in flight: the batch baseline, as a contender. */
function piscinaBatch(ctx: SuiteContext): Contender {
  const vectors = testVectors(4096);
  const batches = ctx.quick ? 200 : 1000;
  const once = async (pool: Piscina, count: number): Promise<number> => {
    const t0 = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < count) {
        next++;
        const data = new Float32Array(1024 * DIM);
        const uids = new Float64Array(1024); // uids as numbers, as SageFlowService is given them here
        for (let row = 0; row < 1024; row++) {
          data.set(vectors[row % vectors.length]!, row * DIM); // what push() does: copy the vector in
          uids[row] = row;
        }
        const b = { count: 1024, dim: DIM, uids, data };
        // The same pipeline ends in the same sink: a main-thread callback per surviving record.
        const out = (await pool.run(b, { name: 'batch', transferList: [data.buffer] })) as Float32Array;
        for (let row = 0; row < 1024; row++) {
          if (out[row * DIM]! >= 0) sink(uids[row]!, 0, out.subarray(row * DIM, (row + 1) * DIM));
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, lane));
    return performance.now() - t0;
  };
  return {
    async iterate() {
      const pool = new Piscina({ filename: benchWorkerUrl('flow-piscina.mjs').href, minThreads: 2, maxThreads: 2, idleTimeout: 60_000 });
      try {
        await once(pool, 250); // not timed: the threads start, load the worker and warm up (a quarter, as SageFlowService's warm-up round)
        return await once(pool, batches);
      } finally {
        await pool.destroy();
      }
    },
    report(ms) {
      if (sunk === 0) throw new Error('the Piscina baselines sank nothing');
      ctx.report(timedFigure('flow.piscina.batch1024', 'Piscina run() per transferred 1024-record batch, 4 in flight, 2 threads (sink per record)', batches * 1024, ms, 'vec/s'));
    },
  };
}

async function scaling(ctx: SuiteContext): Promise<void> {
  const count = ctx.quick ? 4_000 : 20_000;
  const perWorkers = async (workers: number): Promise<FigureInput> => {
    const svc = new SageFlowService({ dim: 4, workers });
    svc.transform((s) =>
      s.map((r) => {
        let x = r.vector[0]!;
        for (let i = 0; i < 20_000; i++) x = Math.sqrt(x * x + i) * 0.5;
        r.vector[1] = x;
        return r;
      }),
    );
    let received = 0;
    svc.setSink(() => void received++);
    for (let i = 0; i < 64; i++) svc.push(BigInt(i), [1, 2, 3, 4]);
    await svc.run(); // deploy and warm
    const ms: number[] = [];
    for (let it = 0; it < (ctx.quick ? 1 : 3); it++) {
      for (let i = 0; i < count; i++) svc.push(BigInt(i), [i, 2, 3, 4]);
      const t0 = performance.now();
      await svc.run();
      ms.push(performance.now() - t0);
    }
    await svc.close();
    return timedFigure(`flow.scale.${workers}`, `CPU-bound map (~20k flops/record) on ${workers} worker${workers > 1 ? 's' : ''}`, count, ms);
  };
  ctx.report(await perWorkers(1));
  ctx.report(await perWorkers(2));
}

async function lowLoadLatency(ctx: SuiteContext): Promise<void> {
  const svc = new SageFlowService({ dim: DIM, workers: 1 });
  let arrived = 0;
  svc.setSink(() => void (arrived = performance.now()));
  const vector = testVectors(1)[0]!;
  const samples: number[] = [];
  const n = ctx.quick ? 200 : 1000;
  for (let i = 0; i < n + 50; i++) {
    const t0 = performance.now();
    svc.push(BigInt(i), vector);
    await svc.run();
    if (i >= 50) samples.push((arrived - t0) * 1000);
    await new Promise((r) => setTimeout(r, 1)); // low load: one vector at a time, with gaps
  }
  await svc.close();
  samples.sort((a, b) => a - b);
  ctx.report({
    id: 'flow.latency',
    label: `push → sink callback at low load (one dim-${DIM} vector per run(), 1 worker)`,
    kind: 'latency',
    unit: 'µs',
    value: samples[Math.floor(samples.length / 2)]!,
    p50: samples[Math.floor(samples.length / 2)],
    p99: samples[Math.floor(samples.length * 0.99)],
    min: samples[0],
    max: samples[samples.length - 1],
    samples: samples.length,
  });
}

async function slowSinkMemory(ctx: SuiteContext): Promise<void> {
  const total = ctx.quick ? 1_000_000 : 10_000_000;
  const env = new StreamEnvironment({ workers: 2, ringCapacity: 1 << 20 });
  let i = 0;
  const vector = new Float32Array([1, 2, 3, 4]);
  let received = 0;
  let baseline = 0;
  let peak = 0;
  env
    .fromSource(() => (i < total ? { uid: BigInt(i++), ts: 0, vector } : STOP))
    .map((r) => r)
    .sink((r) => {
      received++;
      // a slow sink: ~0.5 µs of work per record on top of delivery
      let x = Number(r.uid);
      for (let k = 0; k < 50; k++) x = (x * 31 + k) % 1000003;
      if (received === 200_000) baseline = process.memoryUsage().rss;
    });
  const sampler = setInterval(() => {
    if (baseline > 0) peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const t0 = performance.now();
  await env.execute();
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  if (received !== total) throw new Error(`slow sink got ${received} of ${total}`);
  ctx.report({
    id: 'flow.memory.rssGrowthMB',
    label: `RSS growth while ${(total / 1e6).toFixed(0)} M records stream to a slow sink (after the first 200 k)`,
    kind: 'latency',
    unit: 'MB',
    value: Math.max(0, peak - baseline) / 2 ** 20,
    detail: { baselineMB: baseline / 2 ** 20, peakMB: peak / 2 ** 20, recordsPerSecond: total / seconds },
  });
}

/**
 * A fresh service's first round: construction, one push of N dim-128 vectors and one run(), timed
 * whole (the seed's batch scenario runs once, so the first run counts). Measured first in the
 * suite, before the other SageFlowService figures have touched queue memory; the page faults of
 * the main thread and of the process are in the detail.
 */
async function coldRun(ctx: SuiteContext): Promise<void> {
  const total = ctx.quick ? 100_000 : 500_000;
  const pool = testVectors(total);
  const faults0 = process.resourceUsage().minorPageFault;
  const t0 = performance.now();
  const svc = new SageFlowService({ dim: DIM, workers: 2 });
  let received = 0;
  svc.transform(filterThenDouble);
  svc.setSink(() => void received++, 'count');
  for (let i = 0; i < total; i++) svc.push(i, pool[i % pool.length]!);
  const pushed = performance.now();
  await svc.run();
  const ms = performance.now() - t0;
  const faults = process.resourceUsage().minorPageFault - faults0;
  await svc.close();
  if (received === 0) throw new Error('the sink received nothing');
  ctx.report(timedFigure('flow.sage.cold', `SageFlowService cold first run: fresh service, push ${total / 1000} k dim-${DIM} + one run() (defaults)`, total, [ms], 'vec/s', { pushMs: pushed - t0, runMs: ms - (pushed - t0), minorPageFaults: faults }));
}

export const flow: Suite = {
  name: 'flow',
  title: 'Dataflow: SageFlowService and the stream runtime vs Piscina',
  async run(ctx) {
    await coldRun(ctx);
    await piscinaPerRecord(ctx);
    // Timed in turns (see Contender).
    await interleaved(ctx.quick ? 1 : 5, [piscinaBatch(ctx), ...(['owned', 'views', 'zeroCopy'] as const).map((handover) => sageFlow(ctx, handover))]);
    await scaling(ctx);
    await lowLoadLatency(ctx);
    await slowSinkMemory(ctx);
  },
  ratios: [
    { id: 'flow.vsPiscinaPerRecord', label: 'SageFlowService (defaults) vs Piscina run() per record', compute: (f) => quotient(f.get('flow.sage')?.value, f.get('flow.piscina.perRecord')?.value) },
    { id: 'flow.vsPiscinaBatch', label: 'SageFlowService (defaults) vs Piscina run() per 1024-batch', compute: (f) => quotient(f.get('flow.sage')?.value, f.get('flow.piscina.batch1024')?.value) },
    { id: 'flow.viewsVsPiscinaBatch', label: 'SageFlowService (vector views) vs Piscina run() per 1024-batch', compute: (f) => quotient(f.get('flow.sage.views')?.value, f.get('flow.piscina.batch1024')?.value) },
    { id: 'flow.zeroCopyVsPiscinaBatch', label: 'SageFlowService (zero-copy) vs Piscina run() per 1024-batch', compute: (f) => quotient(f.get('flow.sage.zeroCopy')?.value, f.get('flow.piscina.batch1024')?.value) },
    { id: 'flow.scaling', label: 'CPU-bound map: 2 workers vs 1', compute: (f) => quotient(f.get('flow.scale.2')?.value, f.get('flow.scale.1')?.value) },
  ],
  // The pipeline goals are shown for the defaults and for zero-copy (documented options, nothing
  // else changed).
  goals: [
    { id: 'flow.goal.cold', label: 'SageFlowService cold first run, 500 k dim-128 (defaults)', value: (f) => f.get('flow.sage.cold')?.value, op: '>=', target: 0.8e6, unit: 'vec/s' },
    { id: 'flow.goal.throughput', label: 'SageFlowService dim-128 filter → map → sink (defaults)', value: (f) => f.get('flow.sage')?.value, op: '>=', target: 1.5e6, unit: 'vec/s' },
    { id: 'flow.goal.throughput.zeroCopy', label: '  the same, zero-copy', value: (f) => f.get('flow.sage.zeroCopy')?.value, op: '>=', target: 1.5e6, unit: 'vec/s' },
    { id: 'flow.goal.perRecord', label: 'vs Piscina run() per record (defaults)', value: (f) => quotient(f.get('flow.sage')?.value, f.get('flow.piscina.perRecord')?.value), op: '>=', target: 10, unit: '×' },
    { id: 'flow.goal.batch', label: 'vs Piscina run() per 1024-batch (defaults)', value: (f) => quotient(f.get('flow.sage')?.value, f.get('flow.piscina.batch1024')?.value), op: '>=', target: 1.5, unit: '×' },
    { id: 'flow.goal.batch.zeroCopy', label: '  the same, zero-copy', value: (f) => quotient(f.get('flow.sage.zeroCopy')?.value, f.get('flow.piscina.batch1024')?.value), op: '>=', target: 1.5, unit: '×' },
    { id: 'flow.goal.scaling', label: 'CPU-bound operator, 2 workers vs 1', value: (f) => quotient(f.get('flow.scale.2')?.value, f.get('flow.scale.1')?.value), op: '>=', target: 1.7, unit: '×' },
    { id: 'flow.goal.eventLoop', label: 'event-loop delay p99 at full speed (defaults)', value: (f) => (f.get('flow.sage.eventLoopP99')?.value ?? NaN) / 1000, op: '<=', target: 10, unit: 'ms' },
    { id: 'flow.goal.eventLoop.zeroCopy', label: '  the same, zero-copy', value: (f) => (f.get('flow.sage.zeroCopy.eventLoopP99')?.value ?? NaN) / 1000, op: '<=', target: 10, unit: 'ms' },
    { id: 'flow.goal.memory', label: 'RSS growth, slow sink', value: (f) => f.get('flow.memory.rssGrowthMB')?.value, op: '<=', target: 64, unit: 'MB' },
    { id: 'flow.goal.latency', label: 'push → sink p50 at low load', value: (f) => f.get('flow.latency')?.value, op: '<=', target: 100, unit: 'µs' },
  ],
};
