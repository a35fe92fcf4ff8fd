/**
 * Timing sides of a comparison in turns. On the shared 2-core box a stretch of noise (another
 * tenant, the VM's first touch of memory) lasts seconds: measured in blocks, it falls on whichever
 * side ran then and the ratio swings (Piscina's batch rate moved 1.7–4.7 M vec/s between suites).
 * In turns, it falls on every side.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FigureInput } from './suite.js';

/** A full garbage collection of the main thread's heap (the flag is set at run time). */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/**
 * One side of an interleaved comparison. Each iteration sets its side up (untimed), times one
 * round and tears it down again, so only one side holds threads and memory at a time.
 */
export interface Contender {
  /** One round, ms; `last` is the comparison's final iteration, `warmup` a round not reported. */
  iterate(last: boolean, warmup: boolean): Promise<number>;
  /** Reports its figures from the rounds' times. */
  report(ms: number[]): void;
}

/**
 * Runs `iterations` rounds of every contender, one iteration each in turn, then lets each report.
 * The first `warmupRounds` rounds are run the same way and not reported. Each iteration starts
 * after a full collection, so that no side is timed (or its event-loop delay sampled) while the
 * main thread collects what the side before it left.
 */
export async function interleaved(iterations: number, contenders: Contender[], warmupRounds = 0): Promise<void> {
  for (let it = 0; it < warmupRounds; it++) {
    for (const c of contenders) {
      collectGarbage();
      await c.iterate(false, true);
    }
  }
  const times = contenders.map((): number[] => []);
  for (let it = 0; it < iterations; it++) {
    // The order rotates, so that no side always runs right after the same other side.
    for (let k = 0; k < contenders.length; k++) {
      const c = (it + k) % contenders.length;
      collectGarbage();
      times[c]!.push(await contenders[c]!.iterate(it === iterations - 1, false));
    }
  }
  contenders.forEach((c, i) => c.report(times[i]!));
}

/**
 * A contender that times `run` whole, and the process CPU (all threads) it took: on a shared box,
 * what the wall clock cannot separate from other load. `after` runs untimed (cleaning up);
 * `report` gets the reported rounds' times and CPU ms, warm-up rounds left out.
 */
export function timedSide(run: (warmup: boolean) => Promise<unknown>, report: (ms: number[], cpuMs: number[]) => void, after?: () => Promise<unknown>): Contender {
  const cpuMs: number[] = [];
  return {
    async iterate(_last, warmup) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await run(warmup);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(c0);
      if (!warmup) cpuMs.push((cpu.user + cpu.system) / 1000);
      await after?.();
      return ms;
    },
    report: (ms) => report(ms, cpuMs),
  };
}

/** A throughput figure from iteration times (ms): its value from the median iteration. */
export function timedFigure(id: string, label: string, items: number, ms: number[], unit = 'rec/s', detail: Record<string, unknown> = {}): FigureInput {
  const sorted = [...ms].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)]!;
  return {
    id,
    label,
    kind: 'throughput',
    unit,
    value: (items * 1000) / p50,
    p50,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    samples: ms.length,
    detail: { itemsPerIteration: items, iterationMs: ms, ...detail },
  };
}
