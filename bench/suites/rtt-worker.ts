/**
 * Suite 4a — round trip worker↔worker. A pinger worker sends an 8-byte request on one ring and
 * blocks until the echo worker's reply arrives on a second ring; both block with the named wait
 * strategy. Timed inside the pinger with performance.now() around each round trip (the timer's
 * own cost, ~1 call, is included and reported). Baseline: the same over a MessageChannel.
 */
import { MessageChannel } from 'node:worker_threads';
import { SharedRing } from '../../src/ring/index.js';
import type { Distribution } from '../lib/stats.js';
import { describeStrategy, STRATEGY_LABELS, type StrategyName } from '../lib/strategies.js';
import { quotient, type FigureInput, type Suite, type SuiteContext } from '../lib/suite.js';
import { consumerWakes } from '../lib/wakes.js';
import { benchWorkerUrl, startWorker, type BenchWorker, type ControlMessage } from '../lib/workers.js';

type Result = ControlMessage & Distribution & { untimedMeanUs: number; timerOverheadUs: number };

function figure(id: string, label: string, r: Result, extra: Record<string, unknown> = {}): FigureInput {
  return {
    id,
    label,
    kind: 'latency',
    unit: 'µs',
    value: r.p50,
    mean: r.mean,
    p50: r.p50,
    p99: r.p99,
    min: r.min,
    max: r.max,
    samples: r.samples,
    detail: { untimedMeanUs: r.untimedMeanUs, timerOverheadUs: r.timerOverheadUs, timing: 'performance.now() per sample, in the pinger worker', ...extra },
  };
}

function sizes(ctx: SuiteContext, ring: boolean) {
  if (ctx.quick) return { warmup: 2_000, samples: ring ? 20_000 : 2_000, timeMs: 300 };
  return { warmup: 20_000, samples: ring ? 200_000 : 20_000, timeMs: 1500 };
}

async function ringPair(ctx: SuiteContext, name: StrategyName): Promise<{ result: Result; wakes: Record<string, number> }> {
  const req = SharedRing.create({ capacity: 1 << 16, multiProducer: false });
  const resp = SharedRing.create({ capacity: 1 << 16, multiProducer: false });
  const workers: BenchWorker[] = [];
  try {
    workers.push(await startWorker('ring-echo', benchWorkerUrl('ring-echo.ts'), { req: req.buffer, resp: resp.buffer, strategy: name }));
    const pinger = await startWorker('rtt-pinger', benchWorkerUrl('rtt-pinger.ts'), {
      mode: 'ring',
      req: req.buffer,
      resp: resp.buffer,
      strategy: name,
      ...sizes(ctx, true),
    });
    workers.push(pinger);
    const echoWakes = consumerWakes(req);
    const pingerWakes = consumerWakes(resp);
    pinger.send({ ctl: 'start' });
    const result = await pinger.next<Result>('result', 120_000);
    // Warm-up, sampled and untimed round trips all count: 2 × samples + warmup.
    const roundTrips = 2 * result.samples + sizes(ctx, true).warmup;
    const wakes = { echoWokenPerRoundTrip: echoWakes() / roundTrips, pingerWokenPerRoundTrip: pingerWakes() / roundTrips };
    req.close();
    await workers[0]!.next('done');
    return { result, wakes };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

async function portPair(ctx: SuiteContext): Promise<Result> {
  const { port1, port2 } = new MessageChannel();
  const workers: BenchWorker[] = [];
  try {
    workers.push(await startWorker('port-echo', benchWorkerUrl('port-echo.ts'), { port: port2 }, [port2]));
    const pinger = await startWorker('rtt-pinger', benchWorkerUrl('rtt-pinger.ts'), { mode: 'port', port: port1, strategy: 'default', ...sizes(ctx, false) }, [
      port1,
    ]);
    workers.push(pinger);
    pinger.send({ ctl: 'start' });
    return await pinger.next<Result>('result', 120_000);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

const VARIANTS: StrategyName[] = ['default', 'busy'];

export const rttWorker: Suite = {
  name: 'rtt-worker',
  title: 'Round trip worker↔worker: two rings (blocking waits) vs MessageChannel',
  async run(ctx) {
    for (const v of VARIANTS) {
      const { result, wakes } = await ringPair(ctx, v);
      ctx.report(figure(`rtt.worker.ring.${v}`, `ring↔ring, ${STRATEGY_LABELS[v]}`, result, { strategy: describeStrategy(v), ...wakes }));
      ctx.log(`futex wakes per round trip: echo ${wakes.echoWokenPerRoundTrip.toFixed(3)}, pinger ${wakes.pingerWokenPerRoundTrip.toFixed(3)}`);
    }
    ctx.report(figure('rtt.worker.messageChannel', 'postMessage over a MessageChannel', await portPair(ctx)));
  },
  ratios: [
    {
      id: 'rtt.worker.messageChannel/ring.default',
      label: 'worker↔worker: MessageChannel p50 / ring p50 (default strategy)',
      compute: (f) => quotient(f.get('rtt.worker.messageChannel')?.value, f.get('rtt.worker.ring.default')?.value),
    },
  ],
  goals: [
    {
      id: 'rtt.worker.ring.p50',
      label: 'worker↔worker ring round trip p50 (default spin-then-park)',
      value: (f) => f.get('rtt.worker.ring.default')?.value,
      op: '<=',
      target: 2,
      unit: 'µs',
    },
  ],
};
