/**
 * Records of any shape (issue 9): plain objects `{ i, user, score, tags }` through the stream
 * runtime against hand-rolled postMessage and Piscina, in one run.
 *
 * - records.ringflow: fromIterable → map → filter → sink on 2 workers, records/s; the main
 *   thread's event-loop delay p99 and the process's peak RSS growth meanwhile.
 * - Baselines, the same map → filter on 2 workers: postMessage of 256-record arrays and back
 *   (4 in flight per worker); Piscina run() per 256-record batch (8 in flight); one postMessage
 *   per record and back (256 in flight per worker).
 * - records.keyed: keyBy(user) → tumbling 1 s window → count on 2 workers, against postMessage
 *   with hash partitioning over 2 workers (256-record arrays, each worker counting per window).
 *
 * Each ringflow iteration is a first run: a fresh StreamEnvironment that starts its worker threads,
 * runs, and stops them. So each baseline is measured twice: cold, the same way (its workers or
 * pool started and stopped inside each timed iteration: the goals compare these, timed in turns
 * with ringflow's first runs), and warm (its workers started once, before the timed loop), which
 * ringflow's steady rate (first record at the sink to the last) is set against.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { hashKey } from '../../src/codec/index.js';
import { StreamEnvironment } from '../../src/stream/index.js';
import { interleaved, timedFigure, timedSide, type Contender } from '../lib/interleave.js';
import { quotient, type Suite, type SuiteContext } from '../lib/suite.js';
import { benchWorkerUrl } from '../lib/workers.js';

/** The record shape, shared with the metrics suite. */
export interface Rec {
  i: number;
  user: string;
  score: number;
  tags: string[];
}

const BATCH = 256;
export const records = (n: number): Rec[] => Array.from({ length: n }, (_, i) => ({ i, user: `user-${i % 1000}`, score: (i % 100) / 100, tags: ['a', i % 2 ? 'odd' : 'even'] }));
const baselineUrl = (): URL => benchWorkerUrl('records-baseline.mjs');

function cpuDetail(cpu: number[]): Record<string, unknown> {
  return { processCpuMs: cpu.map((c) => Math.round(c)) };
}

const cpuNow = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const iterations = (ctx: SuiteContext): number => (ctx.quick ? 1 : 3);

/** A baseline: how its workers start and stop, and one run of the workload on them. */
interface Baseline<W = any> {
  id: string;
  label: string;
  items: number;
  start: () => W;
  stop: (w: W) => Promise<unknown>;
  run: (w: W) => Promise<void>;
}

/** The baseline warm: its workers started once, a warm-up run, then the timed runs. */
async function measureWarm(ctx: SuiteContext, b: Baseline): Promise<void> {
  const w = b.start();
  const ms: number[] = [];
  const cpu: number[] = [];
  try {
    await b.run(w);
    for (let i = 0; i < iterations(ctx); i++) {
      const c0 = cpuNow();
      const t0 = performance.now();
      await b.run(w);
      ms.push(performance.now() - t0);
      cpu.push(cpuNow() - c0);
    }
  } finally {
    await b.stop(w);
  }
  ctx.report(timedFigure(b.id, `${b.label} (workers started before the timed loop)`, b.items, ms, 'rec/s', cpuDetail(cpu)));
}

/** The baseline cold, as a contender: its workers started and stopped inside each timed iteration. */
function coldBaseline(ctx: SuiteContext, b: Baseline): Contender {
  return timedSide(
    async () => {
      const fresh = b.start();
      try {
        await b.run(fresh);
      } finally {
        await b.stop(fresh);
      }
    },
    (ms, cpu) => ctx.report(timedFigure(`${b.id}.cold`, `${b.label} (a first run: starting and stopping its workers included)`, b.items, ms, 'rec/s', cpuDetail(cpu))),
  );
}

function ringflow(ctx: SuiteContext, input: Rec[]): Contender {
  let received = 0;
  const steady: number[] = [];
  const rssGrowth: number[] = [];
  const loopP99: number[] = [];
  const once = async (warmup: boolean) => {
    received = 0;
    let first = 0;
    let last = 0;
    const env = new StreamEnvironment({ workers: 2 });
    env
      .fromIterable(input)
      .map((r: Rec) => ({ i: r.i, user: r.user, score: r.score * 2, tags: r.tags }))
      .filter((r: Rec) => r.score > 0.5)
      .sink(() => {
        last = performance.now();
        if (received++ === 0) first = last;
      });
    const monitor = monitorEventLoopDelay({ resolution: 1 });
    const before = process.memoryUsage().rss;
    let peakRss = before;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10);
    monitor.enable();
    await env.execute();
    monitor.disable();
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (!warmup) {
      steady.push(last - first);
      rssGrowth.push((peakRss - before) / 2 ** 20);
      loopP99.push(monitor.percentile(99) / 1e6);
    }
    if (received === 0) throw new Error('the sink received nothing');
  };
  return timedSide(once, (ms, cpu) => {
    ctx.report(timedFigure('records.ringflow', `objects fromIterable → map → filter → sink, 2 workers (${received} of ${input.length} kept; a first run: starting and stopping its workers included)`, input.length, ms, 'rec/s', cpuDetail(cpu)));
    // The rate from its first record at the sink to its last: set against the warm baselines.
    ctx.report(timedFigure('records.ringflow.steady', '  the same, from the first record at the sink to the last (worker start excluded)', input.length, steady));
    ctx.report({ id: 'records.ringflow.rssGrowthMB', label: '  peak RSS growth while it runs (worst run; includes deploying 2 workers)', kind: 'latency', unit: 'MB', statistic: 'max', value: Math.max(...rssGrowth) });
    ctx.report({ id: 'records.ringflow.eventLoopP99', label: '  main-thread event-loop delay p99 while it runs (worst run)', kind: 'latency', unit: 'ms', statistic: 'p99', value: Math.max(...loopP99) });
  });
}

/** Two plain workers, each answering with what records-baseline.mjs does for a message kind. */
const startWorkers = (): Worker[] => [new Worker(baselineUrl()), new Worker(baselineUrl())];
const stopWorkers = (workers: Worker[]): Promise<unknown> => Promise.all(workers.map((w) => w.terminate()));

/** Sends `messages` round-robin over the workers with at most `inFlight` unanswered per worker; resolves when all are answered. */
function pump(workers: Worker[], messages: number, inFlight: number, make: (n: number) => unknown): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    let answered = 0;
    const outstanding = workers.map(() => 0);
    const send = (w: number) => {
      while (outstanding[w]! < inFlight && sent < messages) {
        outstanding[w]!++;
        workers[w]!.postMessage(make(sent++));
      }
    };
    const handlers = workers.map((worker, w) => {
      const handler = () => {
        outstanding[w]!--;
        if (++answered === messages) {
          workers.forEach((x, i) => x.off('message', handlers[i]!));
          resolve();
        } else send(w);
      };
      worker.on('message', handler);
      return handler;
    });
    workers.forEach((_, w) => send(w));
  });
}

function postMessageBatches(input: Rec[]): Baseline<Worker[]> {
  const batches = Array.from({ length: Math.ceil(input.length / BATCH) }, (_, b) => input.slice(b * BATCH, (b + 1) * BATCH));
  return {
    id: 'records.postMessage.batch',
    label: '  baseline: postMessage of 256-record arrays to 2 workers and back',
    items: input.length,
    start: startWorkers,
    stop: stopWorkers,
    run: (workers) => pump(workers, batches.length, 4, (n) => ({ kind: 'batch', records: batches[n] })),
  };
}

function piscinaBatches(input: Rec[]): Baseline<Piscina> {
  const batches = Array.from({ length: Math.ceil(input.length / BATCH) }, (_, b) => input.slice(b * BATCH, (b + 1) * BATCH));
  return {
    id: 'records.piscina.batch',
    label: '  baseline: Piscina run() per 256-record batch, 2 threads',
    items: input.length,
    start: () => new Piscina({ filename: baselineUrl().href, name: 'batch', minThreads: 2, maxThreads: 2 }),
    stop: (pool) => pool.destroy(),
    run: async (pool) => {
      let next = 0;
      const lane = async () => {
        while (next < batches.length) await pool.run(batches[next++]);
      };
      await Promise.all(Array.from({ length: 8 }, lane));
    },
  };
}

function postMessageEach(input: Rec[]): Baseline<Worker[]> {
  // A quarter of the records: one message each is slow, and the rate is what counts.
  const part = input.slice(0, Math.ceil(input.length / 4));
  return {
    id: 'records.postMessage.each',
    label: '  baseline: one postMessage per record to 2 workers and back',
    items: part.length,
    start: startWorkers,
    stop: stopWorkers,
    run: (workers) => pump(workers, part.length, 256, (n) => ({ kind: 'one', record: part[n] })),
  };
}

function keyedRingflow(ctx: SuiteContext, input: Rec[]): Contender {
  let windows = 0;
  return timedSide(
    async () => {
      windows = 0;
      const env = new StreamEnvironment({ workers: 2 });
      env
        .fromIterable(input)
        .keyBy((r: Rec) => r.user)
        .window({ tumbling: 1000 })
        .aggregate({ createAccumulator: () => 0, add: (n: number) => n + 1 })
        .sink(() => void windows++);
      await env.execute();
      if (windows === 0) throw new Error('no window closed');
    },
    (ms, cpu) => ctx.report(timedFigure('records.keyed.ringflow', `keyBy(user) → tumbling 1 s window → count, 2 workers (${windows} window results; a first run: starting and stopping its workers included)`, input.length, ms, 'rec/s', cpuDetail(cpu))),
  );
}

function keyedPostMessage(input: Rec[]): Baseline<Worker[]> {
  const run = async (workers: Worker[]): Promise<void> => {
    // Hash-partition into per-worker 256-record arrays, as a careful hand-rolled version does.
    const pending: Rec[][] = workers.map(() => []);
    const batches: { worker: number; records: Rec[]; ts: number }[] = [];
    for (const r of input) {
      const w = hashKey(r.user) % workers.length;
      const p = pending[w]!;
      p.push(r);
      if (p.length === BATCH) {
        batches.push({ worker: w, records: p, ts: Date.now() });
        pending[w] = [];
      }
    }
    pending.forEach((records, worker) => records.length && batches.push({ worker, records, ts: Date.now() }));
    await pumpTo(workers, batches, 4);
    let results = 0;
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const onResults = (m: { kind: string; results?: unknown[] }) => {
              if (m.kind !== 'results') return;
              results += m.results!.length;
              w.off('message', onResults);
              resolve();
            };
            w.on('message', onResults);
            w.postMessage({ kind: 'end' });
          }),
      ),
    );
    if (results === 0) throw new Error('no window results');
  };
  return { id: 'records.keyed.postMessage', label: '  baseline: postMessage with hash partitioning over 2 workers, 256-record arrays', items: input.length, start: startWorkers, stop: stopWorkers, run };
}

/** Sends each batch to its worker, at most `inFlight` unanswered per worker. */
function pumpTo(workers: Worker[], batches: { worker: number; records: Rec[]; ts: number }[], inFlight: number): Promise<void> {
  return new Promise((resolve) => {
    const queues = workers.map((_, w) => batches.filter((b) => b.worker === w));
    let left = batches.length;
    if (left === 0) return resolve();
    const outstanding = workers.map(() => 0);
    const send = (w: number) => {
      while (outstanding[w]! < inFlight && queues[w]!.length > 0) {
        const b = queues[w]!.shift()!;
        outstanding[w]!++;
        workers[w]!.postMessage({ kind: 'keyed', records: b.records, ts: b.ts });
      }
    };
    const handlers = workers.map((worker, w) => {
      const handler = (m: { kind: string }) => {
        if (m.kind !== 'ack') return;
        outstanding[w]!--;
        if (--left === 0) {
          workers.forEach((x, i) => x.off('message', handlers[i]!));
          resolve();
        } else send(w);
      };
      worker.on('message', handler);
      return handler;
    });
    workers.forEach((_, w) => send(w));
  });
}

export const recordsSuite: Suite = {
  name: 'records',
  title: 'Records of any shape: plain objects through map → filter and a keyed window, against postMessage and Piscina',
  async run(ctx) {
    const input = records(ctx.quick ? 100_000 : 400_000);
    // Warm baselines in blocks (the steady rates' comparisons); the first runs, which the goals
    // compare, in turns with ringflow's, one warm-up round first.
    const baselines = [postMessageBatches(input), piscinaBatches(input), postMessageEach(input)];
    for (const b of baselines) await measureWarm(ctx, b);
    await interleaved(iterations(ctx), [ringflow(ctx, input), ...baselines.map((b) => coldBaseline(ctx, b))], 1);
    const keyed = keyedPostMessage(input);
    await measureWarm(ctx, keyed);
    await interleaved(iterations(ctx), [keyedRingflow(ctx, input), coldBaseline(ctx, keyed)], 1);
  },
  ratios: [
    { id: 'records.vs.postMessage.batch', label: 'objects map → filter, first runs: ringflow / postMessage 256-arrays', compute: (f) => quotient(f.get('records.ringflow')?.value, f.get('records.postMessage.batch.cold')?.value) },
    { id: 'records.vs.piscina.batch', label: 'objects map → filter, first runs: ringflow / Piscina per 256-batch', compute: (f) => quotient(f.get('records.ringflow')?.value, f.get('records.piscina.batch.cold')?.value) },
    { id: 'records.vs.postMessage.each', label: 'objects map → filter, first runs: ringflow / one postMessage per record', compute: (f) => quotient(f.get('records.ringflow')?.value, f.get('records.postMessage.each.cold')?.value) },
    { id: 'records.keyed.vs.postMessage', label: 'keyed window count, first runs: ringflow / hash-partitioned postMessage', compute: (f) => quotient(f.get('records.keyed.ringflow')?.value, f.get('records.keyed.postMessage.cold')?.value) },
    { id: 'records.vs.piscina.batch.warm', label: 'objects map → filter, ringflow first run / Piscina warm (its pool started before the timed loop)', compute: (f) => quotient(f.get('records.ringflow')?.value, f.get('records.piscina.batch')?.value) },
    { id: 'records.vs.postMessage.batch.warm', label: 'objects map → filter, ringflow first run / postMessage 256-arrays warm', compute: (f) => quotient(f.get('records.ringflow')?.value, f.get('records.postMessage.batch')?.value) },
    { id: 'records.keyed.vs.postMessage.warm', label: 'keyed window count, ringflow first run / hash-partitioned postMessage warm', compute: (f) => quotient(f.get('records.keyed.ringflow')?.value, f.get('records.keyed.postMessage')?.value) },
    { id: 'records.steady.vs.piscina.batch', label: 'objects map → filter, steady rates: ringflow first→last record / Piscina warm', compute: (f) => quotient(f.get('records.ringflow.steady')?.value, f.get('records.piscina.batch')?.value) },
    { id: 'records.steady.vs.postMessage.batch', label: 'objects map → filter, steady rates: ringflow first→last record / postMessage 256-arrays warm', compute: (f) => quotient(f.get('records.ringflow.steady')?.value, f.get('records.postMessage.batch')?.value) },
  ],
  // First runs against first runs: each side starts and stops its workers inside its timed
  // iteration (the warm comparisons are the ratios above).
  goals: [
    { id: 'records.goal.postMessage.batch', label: 'objects ≥ 1.0× postMessage of 256-record arrays (first runs)', value: (f) => quotient(f.get('records.ringflow')?.value, f.get('records.postMessage.batch.cold')?.value), op: '>=', target: 1, unit: '×' },
    { id: 'records.goal.piscina.batch', label: 'objects ≥ 1.0× Piscina per 256-batch (first runs)', value: (f) => quotient(f.get('records.ringflow')?.value, f.get('records.piscina.batch.cold')?.value), op: '>=', target: 1, unit: '×' },
    { id: 'records.goal.postMessage.each', label: 'objects ≥ 4× one postMessage per record (first runs)', value: (f) => quotient(f.get('records.ringflow')?.value, f.get('records.postMessage.each.cold')?.value), op: '>=', target: 4, unit: '×' },
    { id: 'records.goal.keyed', label: 'keyed window count ≥ 1.0× hash-partitioned postMessage (first runs)', value: (f) => quotient(f.get('records.keyed.ringflow')?.value, f.get('records.keyed.postMessage.cold')?.value), op: '>=', target: 1, unit: '×' },
    { id: 'records.goal.memory', label: 'peak RSS growth', value: (f) => f.get('records.ringflow.rssGrowthMB')?.value, op: '<=', target: 128, unit: 'MB' },
    { id: 'records.goal.eventLoop', label: 'event-loop delay p99', value: (f) => f.get('records.ringflow.eventLoopP99')?.value, op: '<=', target: 10, unit: 'ms' },
  ],
};
