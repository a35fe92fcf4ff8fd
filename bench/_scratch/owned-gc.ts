// Scratch: the main isolate's collections while SageFlowService delivers owned copies (the flow
// suite's defaults: 1 M dim-128 vectors in 4 push + run() rounds per fresh service), and how they
// depend on the size of the main thread's live heap.
//
//   npm run build && [VIEWS=1] [BALLAST=600000] node dist/bench/_scratch/owned-gc.js
//
// VIEWS=1 gives the sink vector views; BALLAST=n keeps n small objects alive (~40 MB at 600 k), as
// an application's own heap would. Prints per service: push and run() ms, full collections
// (mark-compacts) and scavenges, and the time spent in each.
import { constants, PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { SageFlowService } from '../../src/flow/index.js';

const DIM = 128;
const TOTAL = 1_000_000;
const ROUNDS = 4;
const vectorViews = process.env.VIEWS === '1';
const ballast = Array.from({ length: Number(process.env.BALLAST ?? 0) }, (_, i) => ({ i, s: `x${i}` }));

const gcs = { major: 0, majorMs: 0, minor: 0, minorMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gcs.major++;
      gcs.majorMs += entry.duration;
    } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      gcs.minor++;
      gcs.minorMs += entry.duration;
    }
  }
}).observe({ entryTypes: ['gc'] });

const pool = Array.from({ length: 1024 }, (_, i) => Float32Array.from({ length: DIM }, (_, d) => ((i * 31 + d * 7) % 97) / 97 - (i % 10 === 0 ? 1 : 0)));

for (let it = 0; it < 4; it++) {
  const svc = new SageFlowService({ dim: DIM, workers: 2 });
  let received = 0;
  svc.transform((s) => s.filter((r) => r.vector[0]! >= 0).map((r) => {
    const v = r.vector;
    for (let i = 0; i < v.length; i++) v[i]! *= 2;
    return r;
  }));
  svc.setSink(() => void received++, 'count', { vectorViews });
  const pushRound = (n: number, base: number) => {
    for (let i = 0; i < n; i++) svc.push(base + i, pool[(base + i) % pool.length]!);
  };
  pushRound(TOTAL / ROUNDS, 0); // deploys, untimed, as the flow suite does
  await svc.run();
  Object.assign(gcs, { major: 0, majorMs: 0, minor: 0, minorMs: 0 });
  let pushMs = 0;
  let runMs = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const p0 = performance.now();
    pushRound(TOTAL / ROUNDS, r * (TOTAL / ROUNDS));
    const p1 = performance.now();
    await svc.run();
    pushMs += p1 - p0;
    runMs += performance.now() - p1;
  }
  await svc.close();
  // The observer is called asynchronously: let it catch up before printing.
  await new Promise((resolve) => setTimeout(resolve, 10));
  console.log(`service ${it}: push ${pushMs.toFixed(0)} ms, run ${runMs.toFixed(0)} ms; ${gcs.major} mark-compacts (${gcs.majorMs.toFixed(0)} ms), ${gcs.minor} scavenges (${gcs.minorMs.toFixed(0)} ms); ${received} delivered`);
}
if (ballast.length < 0) console.log(ballast); // keeps the ballast alive to the end
