/**
 * ringflow's main demo (`npm start`): a stream of synthetic embeddings, deduplicated by a
 * similarity self-join and counted per topic in one-second windows, on every core.
 *
 *   source (main) → dedupe (cosine ≥ 0.98) → normalize ×N → keyBy(topic) → 1 s windows ×N → sink (main)
 *
 * Dedupe runs first, as one instance, because a near-copy must meet its original: after a
 * parallel stage, records of different instances interleave and pairs drift apart.
 *
 * It prints a live progress line (records/s, in flight) and a summary: throughput, end-to-end
 * latency percentiles, per-stage counts, and how responsive the main thread stayed.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { availableParallelism } from 'node:os';
import { StreamEnvironment, type VectorRecord } from '../src/stream/index.js';

const TOTAL = Number(process.env.DEMO_RECORDS ?? 100_000);
const DIM = 64;
const TOPICS = 16;
const DUPLICATE_EVERY = 10; // every 10th embedding is a near-copy of the one before

/** Deterministic pseudo-random numbers, so every run sees the same stream. */
let seed = 42;
const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const centers = Array.from({ length: TOPICS }, () => Float32Array.from({ length: DIM }, () => random() * 2 - 1));
// Noise is drawn from a fixed pool, so generating the stream costs the main thread little.
const noise = Array.from({ length: 1024 }, () => Float32Array.from({ length: DIM }, () => (random() - 0.5) * 1.5));

interface Embedding extends VectorRecord {}

function* embeddings(): Generator<Embedding> {
  let previous: Float32Array | undefined;
  for (let i = 0; i < TOTAL; i++) {
    const center = centers[i % TOPICS]!;
    const jitter = noise[Math.floor(random() * noise.length)]!;
    const vector =
      previous && i % DUPLICATE_EVERY === 0
        ? previous.map((x, d) => x + jitter[d]! * 1e-3)
        : center.map((x, d) => x + jitter[d]!);
    previous = vector;
    sentAt.set(BigInt(i), performance.now());
    yield { uid: BigInt(i), ts: Date.now(), vector };
  }
}

const sentAt = new Map<bigint, number>();
const latencies: number[] = [];
let delivered = 0;
let duplicates = 0;
const windows: { topic: number; start: number; count: number }[] = [];

const workers = Math.min(2, availableParallelism());
const env = new StreamEnvironment({ workers });
env.onSideOutput((output) => {
  if (output.tag === 'duplicate') {
    duplicates++;
    sentAt.delete((output.value as { record: Embedding }).record.uid);
  }
});

const unique = env
  .fromIterable(embeddings(), { name: 'embeddings' })
  .dedupe({ threshold: 0.98, metric: 'cosine', capacity: 64, name: 'dedupe' })
  .map((r) => {
    let norm = 0;
    for (let i = 0; i < r.vector.length; i++) norm += r.vector[i]! * r.vector[i]!;
    norm = Math.sqrt(norm) || 1;
    return { uid: r.uid, ts: r.ts, vector: r.vector.map((x) => x / norm) };
  }, { name: 'normalize' });

// Branch 1: every unique embedding reaches the main thread (for the latency figures).
unique.sink((r) => {
  const start = sentAt.get(r.uid);
  if (start !== undefined) {
    latencies.push(performance.now() - start);
    sentAt.delete(r.uid);
  }
  delivered++;
}, { name: 'unique', vectorViews: true });

// Branch 2: unique embeddings per topic and second.
unique
  .map((r) => ({ topic: Number(r.uid % 16n), ts: r.ts }), { name: 'topic' })
  .keyBy((r) => r.topic)
  .window({ tumbling: 1000, on: 'processingTime' })
  .aggregate({ createAccumulator: () => 0, add: (n: number) => n + 1 }, { name: 'countPerTopic' })
  .sink((w) => void windows.push({ topic: w.key as number, start: w.window.start, count: w.value }), { name: 'windows' });

console.log(`ringflow demo: ${TOTAL.toLocaleString()} embeddings of dim ${DIM}, ${workers} workers per stage\n`);
console.log(env.explain(), '\n');

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const started = performance.now();
let lastCount = 0;
let lastTime = started;
const progress = setInterval(() => {
  const now = performance.now();
  const done = delivered + duplicates;
  const rate = ((done - lastCount) / (now - lastTime)) * 1000;
  process.stdout.write(`\r  ${done.toLocaleString().padStart(9)} processed   ${Math.round(rate).toLocaleString().padStart(9)} records/s   ${sentAt.size.toLocaleString().padStart(7)} in flight   `);
  lastCount = done;
  lastTime = now;
}, 250);

const result = await env.execute();
clearInterval(progress);
loop.disable();
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;

console.log('\n\nsummary');
console.log(`  throughput        ${Math.round(TOTAL / seconds).toLocaleString()} embeddings/s (${seconds.toFixed(2)} s, worker start-up included)`);
console.log(`  end-to-end        p50 ${pct(50).toFixed(2)} ms   p99 ${pct(99).toFixed(2)} ms   (source → dedupe → normalize → main-thread sink; the source pushes flat out, so this is mostly queueing)`);
console.log(`  unique            ${delivered.toLocaleString()}   duplicates dropped ${duplicates.toLocaleString()}`);
console.log(`  windows           ${windows.length} topic-seconds, ${windows.reduce((n, w) => n + w.count, 0).toLocaleString()} embeddings counted`);
console.log(`  per stage         ${Object.entries(result.stages).map(([k, v]) => `${k}: ${v.toLocaleString()}`).join('   ')}`);
console.log(`  main thread       event-loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(2)} ms, max ${(loop.max / 1e6).toFixed(2)} ms`);
