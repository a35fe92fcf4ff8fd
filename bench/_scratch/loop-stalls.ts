// Scratch: what the main thread was doing in its event-loop stalls. A 1 ms interval timer notes
// every gap longer than GAP ms, and for it, from the kernel's /proc/<tid>/schedstat: how long the
// main thread ran and how long it waited in the runqueue, and how much CPU the other threads took
// meanwhile: the job's workers (threads started during the run) and the threads the process had
// before it (V8's platform helpers: JIT and GC tasks of every isolate).
//
//   npm run build && WORKLOAD=records|flow [REPS=4] [GAP=5] [VERBOSE=1] node dist/bench/_scratch/loop-stalls.js
//
// Knobs: RENICE_HELPERS=10 puts the threads the process had before (V8's helpers) at that nice
// value; VIEWS=1 gives flow's sink vector views; FAULTS=1 prints the process's minor page faults
// per run.
//
// records: the records suite's pipeline (400 k objects, fromIterable → map → filter → sink, 2 workers).
// flow: the flow suite's defaults (SageFlowService, 250 k dim-128 vectors pushed, then run()).
import { readFileSync, readdirSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { SageFlowService } from '../../src/flow/index.js';
import { StreamEnvironment } from '../../src/stream/index.js';

const GAP = Number(process.env.GAP ?? 5);
const REPS = Number(process.env.REPS ?? 4);
const workload = process.env.WORKLOAD ?? 'records';

/** [ran, waited] ns of a thread. */
function schedstat(tid: string): [number, number] {
  try {
    const [ran, waited] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    return [ran!, waited!];
  } catch {
    return [0, 0]; // the thread has ended
  }
}

function snapshot(): Map<string, [number, number]> {
  return new Map(readdirSync('/proc/self/task').map((tid) => [tid, schedstat(tid)]));
}

const mainTid = String(process.pid);
const before = new Set(readdirSync('/proc/self/task'));
if (process.env.RENICE_HELPERS) {
  // Experiment: V8's platform helpers at a lower priority, as the workers are.
  const { setPriority } = await import('node:os');
  for (const tid of before) if (tid !== mainTid) setPriority(Number(tid), Number(process.env.RENICE_HELPERS));
}

interface Totals {
  gaps: number;
  gapMs: number;
  mainRan: number;
  mainWaited: number;
  helpers: number;
  workers: number;
}

/** Watches the event loop until stopped; returns the gaps' totals (ms) and, with VERBOSE, each gap. */
function watch(): () => Totals & { lines: string[] } {
  const totals: Totals = { gaps: 0, gapMs: 0, mainRan: 0, mainWaited: 0, helpers: 0, workers: 0 };
  const lines: string[] = [];
  const t0 = performance.now();
  let prev = t0;
  let prevStats = snapshot();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - prev > GAP) {
      const stats = snapshot();
      let helpers = 0;
      let workers = 0;
      for (const [tid, [ran]] of stats) {
        if (tid === mainTid) continue;
        const d = (ran - (prevStats.get(tid)?.[0] ?? ran)) / 1e6;
        if (before.has(tid)) helpers += d;
        else workers += d;
      }
      const [ran, waited] = stats.get(mainTid)!;
      const [ran0, waited0] = prevStats.get(mainTid)!;
      const gap = { ran: (ran - ran0) / 1e6, waited: (waited - waited0) / 1e6 };
      totals.gaps++;
      totals.gapMs += now - prev;
      totals.mainRan += gap.ran;
      totals.mainWaited += gap.waited;
      totals.helpers += helpers;
      totals.workers += workers;
      if (process.env.VERBOSE) lines.push(`  at ${(prev - t0).toFixed(0)} ms +${(now - prev).toFixed(1)}: main ran ${gap.ran.toFixed(1)} waited ${gap.waited.toFixed(1)}; helpers ${helpers.toFixed(1)}, workers ${workers.toFixed(1)}`);
    }
    prev = performance.now();
    // Read after the check, so the next gap's figures cover the gap only.
    prevStats = snapshot();
  }, 1);
  return () => {
    clearInterval(timer);
    return { ...totals, lines };
  };
}

const input = Array.from({ length: 400_000 }, (_, i) => ({ i, user: `user-${i % 1000}`, score: (i % 100) / 100, tags: ['a', i % 2 ? 'odd' : 'even'] }));
const DIM = 128;
const pool = Array.from({ length: 1024 }, (_, i) => Float32Array.from({ length: DIM }, (_, d) => ((i * 31 + d * 7) % 97) / 97 - (i % 10 === 0 ? 1 : 0)));

/** One measured run; resolves when it is done. `measure` wraps what is timed. */
async function once(measure: <T>(work: () => Promise<T>) => Promise<T>): Promise<void> {
  if (workload === 'records') {
    const env = new StreamEnvironment({ workers: 2 });
    env.fromIterable(input).map((r) => ({ i: r.i, user: r.user, score: r.score * 2, tags: r.tags })).filter((r) => r.score > 0.5).sink(() => undefined);
    await measure(() => env.execute());
    return;
  }
  const svc = new SageFlowService({ dim: DIM, workers: 2 });
  svc.transform((s) => s.filter((r) => r.vector[0]! >= 0).map((r) => {
    const v = r.vector;
    for (let i = 0; i < v.length; i++) v[i]! *= 2;
    return r;
  }));
  svc.setSink(() => undefined, 'count', { vectorViews: process.env.VIEWS === '1' });
  const push = (n: number) => {
    for (let i = 0; i < n; i++) svc.push(i, pool[i % pool.length]!);
  };
  push(250_000);
  await svc.run(); // deploys, untimed, as the flow suite does
  push(250_000);
  await measure(() => svc.run());
  await svc.close();
}

for (let rep = 0; rep < REPS; rep++) {
  await once(async (work) => {
    const monitor = monitorEventLoopDelay({ resolution: 1 });
    const stop = watch();
    monitor.enable();
    const t0 = performance.now();
    const f0 = process.resourceUsage().minorPageFault;
    const result = await work();
    if (process.env.FAULTS) console.log('minor faults', process.resourceUsage().minorPageFault - f0);
    const ms = performance.now() - t0;
    monitor.disable();
    const t = stop();
    const f = (x: number) => x.toFixed(0);
    console.log(
      `${workload} rep ${rep}: ${f(ms)} ms, p99 ${(monitor.percentile(99) / 1e6).toFixed(1)} ms; ${t.gaps} gaps > ${GAP} ms, ${f(t.gapMs)} ms in all: main ran ${f(t.mainRan)} and waited ${f(t.mainWaited)}; meanwhile helpers ran ${f(t.helpers)}, workers ${f(t.workers)}`,
    );
    if (t.lines.length) console.log(t.lines.join('\n'));
    return result;
  });
}
