/**
 * SageFlowService: push embeddings, run the pipeline, receive results in a sink. Here each vector
 * is matched against a small catalogue (top 3 by cosine) between the queue and the sink.
 *
 *   npx tsx examples/sage-flow.ts
 */
import { SageFlowService } from '../src/flow/index.js';

const dim = 8;
const catalogue = Array.from({ length: 32 }, (_, i) => Float32Array.from({ length: dim }, (_, d) => Math.sin(i * 0.7 + d)));

const svc = new SageFlowService({ dim, dtype: 'Float32', workers: 2 });
svc.transform((s) => s.topK(3, { vectors: catalogue, ids: catalogue.map((_, i) => `item-${i}`), metric: 'cosine' }));
svc.setSink((uid, ts, _vec, result) => {
  const { hits } = result as { hits: { id: unknown; score: number }[] };
  if (uid % 25n === 0n) console.log(`uid ${uid} @${ts}: ${hits.map((h) => `${h.id} (${h.score.toFixed(3)})`).join(', ')}`);
}, 'matches');

for (let round = 0; round < 3; round++) {
  for (let i = 0; i < 100; i++) {
    const uid = BigInt(round * 100 + i);
    svc.push(uid, Array.from({ length: dim }, (_, d) => Math.sin(Number(uid) * 0.7 + d) + 0.05 * Math.cos(d * Number(uid))));
  }
  console.log(`run ${round}: ${await svc.run()} vectors`);
}
await svc.close();
