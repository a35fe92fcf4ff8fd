/**
 * Suite — service calls (ServiceManager) against postMessage RPC and Piscina `run()`, all in this
 * run. The service is workers/service-bench.ts `BenchService.add(a, b)`; every variant does the
 * same work (call `add(i, 1)` on another thread, check the answer).
 *
 * - awaited one at a time from the main thread (p50/p99, tinybench: one iteration = one call):
 *   ServiceManager.call → worker service; postMessage RPC ({ id, method, args } → { id, result });
 *   Piscina run() of a trivial task (atomics 'sync' and 'async').
 * - pipelined from the main thread, 256 calls in flight (calls/s): the same three.
 * - an operator in a worker calling a service in another worker with callSync, back to back,
 *   each call timed inside the calling worker (p50/p99), less the cost of the clock reads that
 *   time it (measured in the same worker: ~0.1 µs on this VM, where a clock read is a syscall).
 */
import { Piscina } from 'piscina';
import { ServiceManager, op } from '../../src/service/index.js';
import { budget, latency, throughput, type Budget } from '../lib/measure.js';
import { best, bestId, quotient, type Suite, type SuiteContext } from '../lib/suite.js';
import { benchWorkerUrl, startWorker } from '../lib/workers.js';

const SERVICE_MODULE = new URL(`../../workers/service-bench${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
const BENCH_SERVICE = op(SERVICE_MODULE, 'BenchService');
const IN_FLIGHT = 256;

function rttBudget(ctx: SuiteContext): Budget {
  return budget(ctx.quick, { iterations: 5_000, time: 1500, warmupIterations: 2_000, warmupTime: 300 });
}

function pipelineBudget(ctx: SuiteContext): Budget {
  return budget(ctx.quick, { iterations: 10, time: 2000, warmupIterations: 3, warmupTime: 300 });
}

/** Runs `total` calls of `call(i)` keeping `window` in flight; checks every answer. */
async function pipeline(total: number, window: number, call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failure: Error | undefined;
  const lane = async () => {
    while (next < total && failure === undefined) {
      const i = next++;
      const reply = await call(i);
      if (reply !== i + 1) failure = new Error(`call ${i} got ${String(reply)}`);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  if (failure) throw failure;
}

interface Rpc {
  call(i: number): Promise<unknown>;
  stop(): Promise<void>;
}

async function startRpc(): Promise<Rpc> {
  const worker = await startWorker('service-rpc', SERVICE_MODULE, { role: 'rpc' });
  const waiting = new Map<number, (v: unknown) => void>();
  let seq = 0;
  worker.worker.on('message', (m: { id?: number; result?: unknown }) => {
    if (typeof m.id !== 'number') return;
    const resolve = waiting.get(m.id);
    waiting.delete(m.id);
    resolve?.(m.result);
  });
  return {
    call: (i) =>
      new Promise((resolve) => {
        const id = ++seq;
        waiting.set(id, resolve);
        worker.worker.postMessage({ id, method: 'add', args: [i, 1] });
      }),
    stop: () => worker.stop(),
  };
}

async function startPiscina(atomics: 'sync' | 'async'): Promise<{ call(i: number): Promise<unknown>; stop(): Promise<void> }> {
  // bench/workers/piscina-echo.mjs returns its input: the task carries the call, the answer is computed here
  // from the echoed task, so Piscina moves the same data both ways as the other variants.
  const pool = new Piscina({ filename: benchWorkerUrl('piscina-echo.mjs').href, minThreads: 1, maxThreads: 1, idleTimeout: 60_000, atomics });
  await pool.run(0);
  return {
    call: async (i) => {
      const echoed = (await pool.run({ method: 'add', args: [i, 1] })) as { args: [number, number] };
      return echoed.args[0] + echoed.args[1];
    },
    stop: () => pool.destroy(),
  };
}

async function withManager<T>(body: (manager: ServiceManager) => Promise<T>): Promise<T> {
  const manager = new ServiceManager();
  manager.registerService('bench', BENCH_SERVICE, { placement: 'worker' });
  await manager.start();
  try {
    return await body(manager);
  } finally {
    await manager.stop();
  }
}

const PISCINA_RTT = ['services.rtt.piscina.sync', 'services.rtt.piscina.async'];
const PISCINA_PIPELINED = ['services.pipelined.piscina.sync', 'services.pipelined.piscina.async'];

export const services: Suite = {
  name: 'services',
  title: 'Service calls: ServiceManager vs postMessage RPC vs Piscina run()',
  async run(ctx) {
    const items = ctx.quick ? 4_000 : 20_000;

    // --- baselines: postMessage RPC
    const rpc = await startRpc();
    try {
      let seq = 0;
      ctx.report(
        await latency({
          id: 'services.rtt.postMessageRpc',
          label: 'postMessage RPC main→worker→main, awaited one at a time',
          budget: rttBudget(ctx),
          fn: async () => {
            const i = ++seq;
            if ((await rpc.call(i)) !== i + 1) throw new Error('wrong answer');
          },
        }),
      );
      ctx.report(
        await throughput({
          id: 'services.pipelined.postMessageRpc',
          label: `postMessage RPC, ${IN_FLIGHT} in flight`,
          items,
          unit: 'calls/s',
          budget: pipelineBudget(ctx),
          fn: () => pipeline(items, IN_FLIGHT, (i) => rpc.call(i)),
        }),
      );
    } finally {
      await rpc.stop();
    }

    // --- baselines: Piscina run()
    for (const atomics of ['sync', 'async'] as const) {
      const pool = await startPiscina(atomics);
      try {
        let seq = 0;
        ctx.report(
          await latency({
            id: `services.rtt.piscina.${atomics}`,
            label: `Piscina run() trivial task, atomics '${atomics}', awaited one at a time`,
            budget: rttBudget(ctx),
            fn: async () => {
              const i = ++seq;
              if ((await pool.call(i)) !== i + 1) throw new Error('wrong answer');
            },
          }),
        );
        const piscinaItems = Math.min(items, ctx.quick ? 2_000 : 5_000);
        ctx.report(
          await throughput({
            id: `services.pipelined.piscina.${atomics}`,
            label: `Piscina run(), atomics '${atomics}', ${IN_FLIGHT} in flight`,
            items: piscinaItems,
            unit: 'calls/s',
            budget: pipelineBudget(ctx),
            fn: () => pipeline(piscinaItems, IN_FLIGHT, (i) => pool.call(i)),
          }),
        );
      } finally {
        await pool.stop();
      }
    }

    // --- ServiceManager
    await withManager(async (manager) => {
      let seq = 0;
      ctx.report(
        await latency({
          id: 'services.rtt.call',
          label: 'ServiceManager.call main→worker service, awaited one at a time',
          budget: rttBudget(ctx),
          fn: async () => {
            const i = ++seq;
            if ((await manager.call('bench', 'add', [i, 1])) !== i + 1) throw new Error('wrong answer');
          },
        }),
      );
      ctx.report(
        await throughput({
          id: 'services.pipelined.call',
          label: `ServiceManager.call main→worker service, ${IN_FLIGHT} in flight`,
          items,
          unit: 'calls/s',
          budget: pipelineBudget(ctx),
          fn: () => pipeline(items, IN_FLIGHT, (i) => manager.call('bench', 'add', [i, 1])),
        }),
      );
      const status = manager.status('bench');
      ctx.log(`service status: ${status.requests} requests, ${status.errors} errors, caller-side p50 ${status.latency.p50} µs, p99 ${status.latency.p99} µs`);

      const handle = await manager.clientHandle();
      const samples = ctx.quick ? 20_000 : 100_000;
      const operator = await startWorker('service-operator', SERVICE_MODULE, { role: 'operator', handle, service: 'bench', warmup: samples / 5, samples });
      try {
        const r = await operator.next<{ ctl: string; p50: number; p99: number; min: number; mean: number; samples: number; clock: number }>('result', 120_000);
        ctx.log(`callSync samples less the clock's own cost, ${r.clock.toFixed(3)} µs (the median of back-to-back clock reads in that worker): raw p50 ${(r.p50 + r.clock).toFixed(2)} µs`);
        ctx.report({
          id: 'services.callSync.operator',
          label: "operator in a worker → service in another worker, callSync back to back (timed in the worker, less the clock's cost)",
          kind: 'latency',
          unit: 'µs',
          value: r.p50,
          p50: r.p50,
          p99: r.p99,
          min: r.min,
          mean: r.mean,
          samples: r.samples,
          detail: { clockOverheadMicros: r.clock, rawP50: r.p50 + r.clock },
        });
      } finally {
        await operator.stop();
        await manager.releaseClient(handle);
      }
    });
  },
  ratios: [
    {
      id: 'services.rtt.call/postMessageRpc',
      label: 'call p50 / postMessage RPC p50',
      unit: 'ratio',
      compute: (f) => quotient(f.get('services.rtt.call')?.value, f.get('services.rtt.postMessageRpc')?.value),
    },
    {
      id: 'services.rtt.call/piscina.best',
      label: 'call p50 / best Piscina run() p50',
      unit: 'ratio',
      compute: (f) => quotient(f.get('services.rtt.call')?.value, best(f, PISCINA_RTT)),
    },
    {
      id: 'services.pipelined.call/piscina.best',
      label: `pipelined calls/s / best Piscina run() calls/s (${IN_FLIGHT} in flight)`,
      compute: (f) => quotient(f.get('services.pipelined.call')?.value, best(f, PISCINA_PIPELINED)),
    },
    {
      id: 'services.pipelined.call/postMessageRpc',
      label: `pipelined calls/s / postMessage RPC calls/s (${IN_FLIGHT} in flight)`,
      compute: (f) => quotient(f.get('services.pipelined.call')?.value, f.get('services.pipelined.postMessageRpc')?.value),
    },
  ],
  goals: [
    {
      id: 'services.rtt.vsPostMessage',
      label: 'main→worker service call p50 / postMessage RPC p50',
      value: (f) => quotient(f.get('services.rtt.call')?.value, f.get('services.rtt.postMessageRpc')?.value),
      op: '<=',
      target: 0.5,
      unit: 'ratio',
    },
    {
      id: 'services.rtt.vsPiscina',
      label: 'main→worker service call p50 / Piscina run() p50 (best of sync, async)',
      value: (f) => quotient(f.get('services.rtt.call')?.value, best(f, PISCINA_RTT)),
      note: (f) => `vs ${bestId(f, PISCINA_RTT) ?? 'n/a'}`,
      op: '<=',
      target: 0.5,
      unit: 'ratio',
    },
    {
      id: 'services.pipelined.rate',
      label: `pipelined calls from the main thread (${IN_FLIGHT} in flight)`,
      value: (f) => f.get('services.pipelined.call')?.value,
      op: '>=',
      target: 500_000,
      unit: 'calls/s',
    },
    {
      id: 'services.pipelined.vsPiscina',
      label: 'pipelined calls/s / Piscina run() calls/s (best of sync, async)',
      value: (f) => quotient(f.get('services.pipelined.call')?.value, best(f, PISCINA_PIPELINED)),
      note: (f) => `vs ${bestId(f, PISCINA_PIPELINED) ?? 'n/a'}`,
      op: '>=',
      target: 8,
      unit: 'ratio',
    },
    {
      id: 'services.callSync.p50',
      label: 'worker operator → worker service callSync p50',
      value: (f) => f.get('services.callSync.operator')?.value,
      op: '<=',
      target: 3,
      unit: 'µs',
    },
  ],
};
