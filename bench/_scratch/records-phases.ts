// Where a records pipeline's time goes: deployment (to the first record at the sink), streaming, teardown.
// npx tsc -p tsconfig.build.json && node dist/bench/_scratch/records-phases.js [records]
import { StreamEnvironment } from '../../src/stream/index.js';
const n = Number(process.argv[2] ?? 400000);
const input = Array.from({ length: n }, (_, i) => ({ i, user: `user-${i % 1000}`, score: (i % 100) / 100, tags: ['a', i % 2 ? 'odd' : 'even'] }));
for (let rep = 0; rep < 4; rep++) {
  let received = 0; let first = 0; let last = 0;
  const env = new StreamEnvironment({ workers: 2 });
  env.fromIterable(input).map((r) => ({ i: r.i, user: r.user, score: r.score * 2, tags: r.tags })).filter((r) => r.score > -1)
    .sink(() => { last = performance.now(); if (received++ === 0) first = last; });
  const t0 = performance.now();
  await env.execute();
  const t1 = performance.now();
  console.log(`n=${n}: to first ${(first - t0).toFixed(0)} ms, first→last ${(last - first).toFixed(0)} ms (${(n / (last - first)).toFixed(0)} K/s), last→resolved ${(t1 - last).toFixed(0)} ms`);
}
