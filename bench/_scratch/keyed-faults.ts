// Scratch: page faults and CPU of the records suite's keyed job (keyBy(user) → tumbling 1 s window → count).
//   npm run build && node dist/bench/_scratch/keyed-faults.js
import { StreamEnvironment } from '../../src/stream/index.js';

const input = Array.from({ length: 400_000 }, (_, i) => ({ i, user: `user-${i % 1000}`, score: (i % 100) / 100, tags: ['a', i % 2 ? 'odd' : 'even'] }));
for (let rep = 0; rep < 5; rep++) {
  const u0 = process.resourceUsage();
  const t0 = performance.now();
  let windows = 0;
  const young = Number(process.env.YOUNG ?? 0);
  const env = new StreamEnvironment({ workers: 2, ...(young ? { workerResourceLimits: { maxYoungGenerationSizeMb: young } } : {}) });
  env
    .fromIterable(input)
    .keyBy((r) => r.user)
    .window({ tumbling: 1000 })
    .aggregate({ createAccumulator: () => 0, add: (n: number) => n + 1 })
    .sink(() => void windows++);
  await env.execute();
  const u1 = process.resourceUsage();
  console.log(`rep ${rep}: ${(performance.now() - t0).toFixed(0)} ms, cpu ${((u1.userCPUTime + u1.systemCPUTime - u0.userCPUTime - u0.systemCPUTime) / 1000).toFixed(0)} ms (sys ${((u1.systemCPUTime - u0.systemCPUTime) / 1000).toFixed(0)}), minor faults ${u1.minorPageFault - u0.minorPageFault}, windows ${windows}`);
}
