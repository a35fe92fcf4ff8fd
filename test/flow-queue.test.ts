import { describe, expect, it } from 'vitest';
import { SageFlowService } from '../src/flow/index.js';
import { SharedRing } from '../src/ring/index.js';
import { FeedArena, FeedBarrier, StreamEnvironment, type VectorRecord } from '../src/stream/index.js';
import { recordBatchSize } from '../src/codec/index.js';

// SageFlowService queues pushes in a shared arena that the workers read in place (a batch goes by
// reference), and in private memory once the arena is full. These tests drive every path a queued
// batch can take and check that each vector arrives once, intact, and that reused batches never
// leak one run's records into the next.

const DIM = 8;
const vectorOf = (uid: number, round: number) => Float32Array.from({ length: DIM }, (_, d) => uid * 0.5 + d + round * 1000);

describe('SageFlowService queue memory', () => {
  it('fills the shared arena, overflows to private memory, and reuses both across runs', async () => {
    // Room for 3 shared batches of 256 rows: 2 000 pushes also need 5 private ones.
    const svc = new SageFlowService({ dim: DIM, workers: 2, queueMemory: 3 * recordBatchSize(256, DIM, 'Float32') });
    svc.transform((s) => s.map((r) => ({ uid: r.uid, ts: r.ts, vector: r.vector.map((x) => x + 1) })));
    const got = new Map<bigint, number[]>();
    svc.setSink((uid, _ts, vec) => {
      expect(got.has(uid)).toBe(false);
      got.set(uid, [...vec]);
    });
    for (let round = 0; round < 3; round++) {
      got.clear();
      for (let i = 0; i < 2000; i++) {
        svc.push(BigInt(i), vectorOf(i, round));
        // A bad vector in the middle of a batch takes no row.
        if (i === 700) expect(() => svc.push(99_999n, new Float32Array(DIM).fill(Number.NaN))).toThrow(TypeError);
      }
      expect(await svc.run()).toBe(2000);
      expect(got.size).toBe(2000);
      for (const [uid, vec] of got) expect(vec).toEqual([...vectorOf(Number(uid), round)].map((x) => x + 1));
    }
    await svc.close();
  }, 30_000);

  it('hands queued batches straight to a sink (views or copies), and reroutes them for keyBy and broadcast', async () => {
    for (const vectorViews of [false, true]) {
      const svc = new SageFlowService({ dim: DIM, workers: 1 });
      const sums: number[] = [];
      svc.setSink((_uid, _ts, vec) => void sums.push(Array.from(vec).reduce((a, b) => a + b, 0)), 'direct', { vectorViews });
      for (let i = 0; i < 600; i++) svc.push(i, vectorOf(i, 0));
      expect(await svc.run()).toBe(600);
      expect(sums).toEqual(Array.from({ length: 600 }, (_, i) => vectorOf(i, 0).reduce((a, b) => a + b, 0)));
      await svc.close();
    }

    const keyed = new SageFlowService({ dim: DIM, workers: 2 });
    keyed.transform((s) => s.keyBy((r) => Number(r.uid % 3n)).map((r) => r));
    const perKey: bigint[][] = [[], [], []];
    keyed.setSink((uid) => void perKey[Number(uid % 3n)]!.push(uid));
    for (let i = 0; i < 900; i++) keyed.push(i, vectorOf(i, 0));
    expect(await keyed.run()).toBe(900);
    // Hash routing keeps the order within a key.
    for (let k = 0; k < 3; k++) expect(perKey[k]).toEqual(Array.from({ length: 300 }, (_, j) => BigInt(j * 3 + k)));
    await keyed.close();

    const broadcast = new SageFlowService({ dim: DIM, workers: 2, zeroCopyVectors: true });
    // With zero-copy vectors each instance may change its view in place: broadcast must not let two
    // instances share one batch. Each checks it sees the vector as pushed, then scribbles on it.
    broadcast.transform((s) =>
      s.keyBy(() => 0, { strategy: 'broadcast' }).map((r, ctx) => {
        const untouched = r.vector[0] === Number(r.uid) * 0.5;
        r.vector[0] = -1;
        return { uid: r.uid, ts: r.ts, vector: Float32Array.of(ctx.instance, untouched ? 1 : 0) };
      }),
    );
    const seen = new Map<bigint, number[]>();
    broadcast.setSink((uid, _ts, vec) => {
      expect(vec[1]).toBe(1);
      seen.set(uid, [...(seen.get(uid) ?? []), vec[0]!]);
    });
    for (let i = 0; i < 500; i++) broadcast.push(i, vectorOf(i, 0));
    await broadcast.run();
    expect(seen.size).toBe(500);
    for (const instances of seen.values()) expect(instances.sort()).toEqual([0, 1]);
    await broadcast.close();
  }, 30_000);

  it('a ring sink gets a referenced batch as a RecordBatch of its own', async () => {
    const arena = new FeedArena(1 << 20);
    const batch = arena.take(DIM, 'Float32', 64)!;
    for (let i = 0; i < 50; i++) batch.add(BigInt(i), 1000 + i, vectorOf(i, 0));
    const ring = SharedRing.create({ capacity: 1 << 16 });
    const env = new StreamEnvironment({ workers: 1 });
    async function* feed() {
      yield [batch, new FeedBarrier(1)];
    }
    env.fromFeed(feed(), { arena }).sink(ring);
    const reader = new StreamEnvironment({ workers: 1 });
    const out: VectorRecord[] = [];
    reader.fromRing<VectorRecord>(ring).sink((r) => void out.push(r));
    await Promise.all([env.execute(), reader.execute()]);
    // The arena batch may be reused now: what went through the ring is a copy.
    batch.clear();
    batch.add(7n, 0, new Float32Array(DIM));
    expect(out.map((r) => r.uid)).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i)));
    expect(out.map((r) => r.ts)).toEqual(Array.from({ length: 50 }, (_, i) => 1000 + i));
    expect([...out[49]!.vector]).toEqual([...vectorOf(49, 0)]);
  }, 30_000);

  it('refuses a queue size it cannot reserve', () => {
    expect(() => new SageFlowService({ queueMemory: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new SageFlowService({ queueMemory: 1.5 })).toThrow(/integer number of bytes/);
  });
});
