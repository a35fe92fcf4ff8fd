/**
 * Suite 4b — round trip main↔worker, timed on the main thread with tinybench (one iteration = one
 * round trip). The ring variant writes an 8-byte request with tryClaim/commit and awaits
 * `resp.readable()` (Atomics.waitAsync, the main thread never blocks); ring-echo.ts replies on a
 * second ring. Baselines in the same run: postMessage to the worker and back, and Piscina `run()`
 * of a trivial task with atomics 'sync' and 'async', plus ringflow's WorkerPool (Piscina through
 * the bootstrap and task runner).
 */
import { Piscina } from 'piscina';
import { defaultWaitStrategy, SharedRing, SpinThenParkStrategy, type WaitStrategy } from '../../src/ring/index.js';
import { WorkerPool } from '../../src/pool/index.js';
import { budget, latency, type Budget } from '../lib/measure.js';
import { describeStrategy, STRATEGY_LABELS, type StrategyName } from '../lib/strategies.js';
import { best, bestId, quotient, type Suite, type SuiteContext } from '../lib/suite.js';
import { consumerWakes } from '../lib/wakes.js';
import { benchWorkerUrl, startWorker } from '../lib/workers.js';

function rttBudget(ctx: SuiteContext): Budget {
  return budget(ctx.quick, { iterations: 5_000, time: 1500, warmupIterations: 2_000, warmupTime: 300 });
}

/** The main thread's wait on the response ring: the default strategy, or a longer async spin. */
interface MainWait {
  id: string;
  label: string;
  strategy?: WaitStrategy;
}

const MAIN_DEFAULT: MainWait = { id: '', label: 'readable()' };
const MAIN_SPIN_50: MainWait = {
  id: '.mainSpin50',
  label: 'readable() spinning ≤ 50 µs',
  strategy: new SpinThenParkStrategy({ asyncSpinMicros: 50 }),
};

async function ringRtt(ctx: SuiteContext, name: StrategyName, main: MainWait = MAIN_DEFAULT) {
  const req = SharedRing.create({ capacity: 1 << 16, multiProducer: false });
  const resp = SharedRing.create({ capacity: 1 << 16, multiProducer: false, waitStrategy: main.strategy });
  const echo = await startWorker('ring-echo', benchWorkerUrl('ring-echo.ts'), { req: req.buffer, resp: resp.buffer, strategy: name });
  const reqF64 = new Float64Array(req.buffer, req.data.byteOffset, req.capacity >> 3);
  const respF64 = new Float64Array(resp.buffer, resp.data.byteOffset, resp.capacity >> 3);
  let reply = -1;
  const onReply = (_t: number, _d: Uint8Array, offset: number) => {
    reply = respF64[offset >> 3]!;
  };
  let seq = 0;
  const workerWakes = consumerWakes(req);
  const mainWakes = consumerWakes(resp);
  try {
    const fig = await latency({
      id: `rtt.main.ring.${name}${main.id}`,
      label: `ring→worker→ring, main awaits ${main.label}; worker: ${STRATEGY_LABELS[name]}`,
      budget: rttBudget(ctx),
      detail: {
        workerStrategy: describeStrategy(name),
        mainWait: { how: 'ring.readable(): async spin, then Atomics.waitAsync', strategy: { ...(main.strategy ?? defaultWaitStrategy) } },
      },
      fn: async () => {
        const i = ++seq;
        let off = req.tryClaim(0, 8);
        if (off < 0) off = await req.claimAsync(0, 8);
        reqF64[off >> 3] = i;
        req.commit(off);
        while (resp.drain(onReply, 1) === 0) {
          if (!(await resp.readable())) throw new Error('response ring closed');
        }
        if (reply !== i) throw new Error(`round trip ${i} got reply ${reply}`);
      },
    });
    // Every round trip (warm-up included) is one request: seq counts them.
    const wakes = { workerWokenPerRoundTrip: workerWakes() / seq, mainWokenPerRoundTrip: mainWakes() / seq };
    fig.detail = { ...fig.detail, ...wakes };
    ctx.log(`futex wakes per round trip: worker ${wakes.workerWokenPerRoundTrip.toFixed(3)}, main ${wakes.mainWokenPerRoundTrip.toFixed(3)}`);
    req.close();
    await echo.next('done');
    return fig;
  } finally {
    await echo.stop();
  }
}

async function postMessageRtt(ctx: SuiteContext) {
  const echo = await startWorker('port-echo', benchWorkerUrl('port-echo.ts'));
  let resolve: (v: number) => void = () => {};
  echo.worker.on('message', (m: unknown) => {
    if (typeof m === 'number') resolve(m);
  });
  let seq = 0;
  try {
    return await latency({
      id: 'rtt.main.postMessage',
      label: 'postMessage main→worker→main (number)',
      budget: rttBudget(ctx),
      fn: async () => {
        const i = ++seq;
        const reply = await new Promise<number>((r) => {
          resolve = r;
          echo.worker.postMessage(i);
        });
        if (reply !== i) throw new Error(`round trip ${i} got reply ${reply}`);
      },
    });
  } finally {
    await echo.stop();
  }
}

async function piscinaRtt(ctx: SuiteContext, atomics: 'sync' | 'async') {
  const pool = new Piscina({
    filename: benchWorkerUrl('piscina-echo.mjs').href,
    minThreads: 1,
    maxThreads: 1,
    idleTimeout: 60_000,
    atomics,
  });
  let seq = 0;
  try {
    await pool.run(0); // thread started and module loaded before timing
    return await latency({
      id: `rtt.main.piscina.${atomics}`,
      label: `Piscina run() trivial task, atomics '${atomics}'`,
      budget: rttBudget(ctx),
      detail: { threads: 1 },
      fn: async () => {
        const i = ++seq;
        const reply = (await pool.run(i)) as number;
        if (reply !== i) throw new Error(`round trip ${i} got reply ${reply}`);
      },
    });
  } finally {
    await pool.destroy();
  }
}

async function workerPoolRtt(ctx: SuiteContext) {
  const pool = new WorkerPool({ threads: 1 });
  const spec = { module: benchWorkerUrl('piscina-echo.mjs').href, export: 'default', data: 0 };
  let seq = 0;
  try {
    await pool.run(spec);
    return await latency({
      id: 'rtt.main.workerPool',
      label: "ringflow WorkerPool.run() (Piscina via bootstrap + task runner)",
      budget: rttBudget(ctx),
      fn: async () => {
        const i = ++seq;
        const reply = await pool.run<number>({ ...spec, data: i });
        if (reply !== i) throw new Error(`round trip ${i} got reply ${reply}`);
      },
    });
  } finally {
    await pool.close();
  }
}

const PISCINA_IDS = ['rtt.main.piscina.sync', 'rtt.main.piscina.async'];

export const rttMain: Suite = {
  name: 'rtt-main',
  title: 'Round trip main↔worker: rings + readable() vs postMessage vs Piscina run()',
  async run(ctx) {
    ctx.report(await ringRtt(ctx, 'default'));
    ctx.report(await ringRtt(ctx, 'default', MAIN_SPIN_50));
    ctx.report(await ringRtt(ctx, 'busy'));
    ctx.report(await postMessageRtt(ctx));
    ctx.report(await piscinaRtt(ctx, 'sync'));
    ctx.report(await piscinaRtt(ctx, 'async'));
    ctx.report(await workerPoolRtt(ctx));
  },
  ratios: [
    {
      id: 'rtt.main.ring.default/piscina.best',
      label: 'main↔worker ring p50 / best Piscina run() p50',
      unit: 'ratio',
      compute: (f) => quotient(f.get('rtt.main.ring.default')?.value, best(f, PISCINA_IDS)),
    },
    {
      id: 'rtt.main.postMessage/ring.default',
      label: 'main↔worker postMessage p50 / ring p50',
      compute: (f) => quotient(f.get('rtt.main.postMessage')?.value, f.get('rtt.main.ring.default')?.value),
    },
    {
      id: 'rtt.main.piscina.sync/ring.default',
      label: "Piscina 'sync' p50 / ring p50",
      compute: (f) => quotient(f.get('rtt.main.piscina.sync')?.value, f.get('rtt.main.ring.default')?.value),
    },
    {
      id: 'rtt.main.piscina.async/ring.default',
      label: "Piscina 'async' p50 / ring p50",
      compute: (f) => quotient(f.get('rtt.main.piscina.async')?.value, f.get('rtt.main.ring.default')?.value),
    },
    {
      id: 'rtt.main.workerPool/piscina.sync',
      label: "WorkerPool p50 / plain Piscina 'sync' p50",
      compute: (f) => quotient(f.get('rtt.main.workerPool')?.value, f.get('rtt.main.piscina.sync')?.value),
    },
  ],
  goals: [
    {
      id: 'rtt.main.ring.vsPiscina',
      label: 'main↔worker ring p50 / Piscina run() p50 (best of sync, async)',
      value: (f) => quotient(f.get('rtt.main.ring.default')?.value, best(f, PISCINA_IDS)),
      note: (f) => `vs ${bestId(f, PISCINA_IDS) ?? 'n/a'}`,
      op: '<=',
      target: 0.5,
      unit: 'ratio',
    },
  ],
};
