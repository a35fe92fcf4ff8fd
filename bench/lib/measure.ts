/**
 * tinybench wrappers for work timed on the main thread.
 *
 * - `throughput`: one iteration moves `items` records and awaits the consumer's acknowledgement of
 *   all of them; records/s = items / median iteration time (robust to the odd iteration slowed
 *   by a noisy neighbour; the mean-based and best-iteration figures go to `detail`).
 * - `latency`: one iteration is one operation (a round trip); reports mean/p50/p99 in µs.
 */
import { Bench, type Fn } from 'tinybench';
import type { FigureInput } from './suite.js';

export interface Budget {
  /** Minimum iterations (tinybench `iterations`). */
  iterations: number;
  /** Time budget in ms (tinybench `time`); the run continues until both are met. */
  time: number;
  warmupIterations: number;
  warmupTime: number;
}

export function budget(quick: boolean, full: Budget, quickBudget?: Partial<Budget>): Budget {
  if (!quick) return full;
  return {
    iterations: Math.max(2, Math.ceil(full.iterations / 4)),
    time: Math.ceil(full.time / 5),
    warmupIterations: Math.max(1, Math.ceil(full.warmupIterations / 4)),
    warmupTime: Math.ceil(full.warmupTime / 5),
    ...quickBudget,
  };
}

export interface Hooks {
  /** Untimed, before each iteration. */
  beforeEach?: () => void | Promise<void>;
  /** Untimed, after each iteration. */
  afterEach?: () => void | Promise<void>;
}

async function runOne(name: string, fn: Fn, b: Budget, sync = false, hooks: Hooks = {}) {
  const bench = new Bench({
    name,
    iterations: b.iterations,
    time: b.time,
    warmup: true,
    warmupIterations: b.warmupIterations,
    warmupTime: b.warmupTime,
    throws: true,
  });
  bench.add(name, fn, {
    async: !sync,
    beforeEach: hooks.beforeEach && (() => hooks.beforeEach!()),
    afterEach: hooks.afterEach && (() => hooks.afterEach!()),
  });
  await bench.run();
  const task = bench.getTask(name)!;
  const r = task.result;
  if (r.state !== 'completed') {
    throw new Error(`benchmark '${name}' did not complete: ${r.state}${'error' in r ? `: ${String(r.error)}` : ''}`);
  }
  return r;
}

export interface ThroughputSpec {
  id: string;
  label: string;
  /** Records moved (and acknowledged) per iteration. */
  items: number;
  unit?: string;
  /** One iteration. Async unless `sync` is set (then it must not return a promise). */
  fn: () => unknown;
  sync?: boolean;
  hooks?: Hooks;
  budget: Budget;
  detail?: Record<string, unknown>;
}

export async function throughput(spec: ThroughputSpec): Promise<FigureInput> {
  const r = await runOne(spec.id, spec.fn, spec.budget, spec.sync, spec.hooks);
  const lat = r.latency; // ms per iteration
  return {
    id: spec.id,
    label: spec.label,
    kind: 'throughput',
    unit: spec.unit ?? 'rec/s',
    value: (spec.items * 1000) / lat.p50,
    mean: lat.mean,
    p50: lat.p50,
    p99: lat.p99,
    min: lat.min,
    max: lat.max,
    rme: lat.rme,
    samples: lat.samplesCount,
    detail: {
      itemsPerIteration: spec.items,
      iterationMs: { mean: lat.mean, p50: lat.p50, p99: lat.p99, min: lat.min, max: lat.max },
      perSecondFromMean: (spec.items * 1000) / lat.mean,
      perSecondFromBestIteration: (spec.items * 1000) / lat.min,
      nsPerItem: (lat.mean * 1e6) / spec.items,
      ...spec.detail,
    },
  };
}

export interface LatencySpec {
  id: string;
  label: string;
  fn: () => Promise<unknown>;
  budget: Budget;
  detail?: Record<string, unknown>;
}

export async function latency(spec: LatencySpec): Promise<FigureInput> {
  const r = await runOne(spec.id, spec.fn, spec.budget);
  const us = (ms: number) => ms * 1000;
  const lat = r.latency;
  return {
    id: spec.id,
    label: spec.label,
    kind: 'latency',
    unit: 'µs',
    value: us(lat.p50),
    mean: us(lat.mean),
    p50: us(lat.p50),
    p99: us(lat.p99),
    min: us(lat.min),
    max: us(lat.max),
    rme: lat.rme,
    samples: lat.samplesCount,
    detail: { opsPerSecond: 1000 / lat.mean, ...spec.detail },
  };
}
