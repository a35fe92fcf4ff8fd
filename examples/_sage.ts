import { SageFlowService } from '../src/flow/index.js';
const DIM = 128, total = Number(process.env.N ?? 200000);
const svc = new SageFlowService({ dim: DIM, workers: 2 });
let received = 0;
svc.transform((s) => s.filter((r) => r.vector[0]! >= 0).map((r) => { const v = r.vector; for (let i = 0; i < v.length; i++) v[i]! *= 2; return r; }));
svc.setSink(() => void received++, 'count', { vectorViews: process.env.VIEWS === '1' });
const pool = Array.from({ length: 1024 }, (_, i) => Float32Array.from({ length: DIM }, (_, d) => ((i * 31 + d * 7) % 97) / 97));
for (let i = 0; i < 4096; i++) svc.push(BigInt(i), pool[i % 1024]!);
await svc.run();
for (let it = 0; it < 3; it++) {
  const t0 = performance.now();
  for (let i = 0; i < total; i++) svc.push(BigInt(i), pool[i % 1024]!);
  const t1 = performance.now();
  await svc.run();
  const t2 = performance.now();
  console.log(`push ${(t1 - t0).toFixed(0)} ms, run ${(t2 - t1).toFixed(0)} ms → ${(total / (t2 - t0) * 1000 / 1e6).toFixed(3)} M/s, run-only ${(total / (t2 - t1) * 1000 / 1e6).toFixed(3)} M/s`);
}
await svc.close();
