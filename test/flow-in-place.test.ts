import { describe, expect, it } from 'vitest';
import { SageFlowService } from '../src/flow/index.js';
import { SharedRing } from '../src/ring/index.js';
import { FeedArena, FeedBarrier, StreamEnvironment, type DataStream, type VectorRecord } from '../src/stream/index.js';

// A stage whose output goes to one place sends the rows of a queued (referenced) batch on in place:
// the same arena batch, by reference, with the rows that survived. These tests check that what the
// sink sees is exactly what the operators made of each record, in order, whether the operators
// had views (zeroCopyVectors) or private copies, and whatever mix of in-place rows, changed
// records and new ones the operators return.

const DIM = 8;
const vectorOf = (uid: number) => Float32Array.from({ length: DIM }, (_, d) => uid + d / 10);
type Got = { uid: bigint; ts: number; vec: number[] };

async function runThrough(zeroCopyVectors: boolean, workers: number, count: number, transform: (s: DataStream<VectorRecord>) => DataStream<VectorRecord>): Promise<Got[]> {
  const svc = new SageFlowService({ dim: DIM, workers, zeroCopyVectors });
  svc.transform(transform);
  const got: Got[] = [];
  svc.setSink((uid, ts, vec) => void got.push({ uid, ts, vec: [...vec] }));
  // Two runs: the second reuses the arena batches of the first.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < count; i++) svc.push(i, vectorOf(i));
    await svc.run();
  }
  await svc.close();
  return got;
}

describe('rows sent on in place', () => {
  it('a filter and an in-place map: the survivors arrive once, in order, changed', async () => {
    for (const zeroCopyVectors of [false, true]) {
      const got = await runThrough(zeroCopyVectors, 1, 1000, (s) =>
        s.filter((r) => r.uid % 3n !== 0n).map((r) => {
          for (let d = 0; d < r.vector.length; d++) r.vector[d]! *= 2;
          return r;
        }),
      );
      const expected = Array.from({ length: 1000 }, (_, i) => i).filter((i) => i % 3 !== 0);
      expect(got.map((g) => Number(g.uid))).toEqual([...expected, ...expected]);
      for (const g of got) expect(g.vec).toEqual([...vectorOf(Number(g.uid))].map((x) => x * 2));
    }
  }, 30_000);

  it('on two workers every survivor arrives exactly once', async () => {
    for (const zeroCopyVectors of [false, true]) {
      const got = await runThrough(zeroCopyVectors, 2, 3000, (s) => s.filter((r) => r.uid % 2n === 0n).map((r) => r));
      const uids = got.map((g) => Number(g.uid)).sort((a, b) => a - b);
      const evens = Array.from({ length: 1500 }, (_, i) => i * 2);
      expect(uids).toEqual(evens.flatMap((u) => [u, u]));
      for (const g of got) expect(g.vec).toEqual([...vectorOf(Number(g.uid))]);
    }
  }, 30_000);

  it('keeps order across rows kept in place, records with a new uid or ts, new vectors and repeats', async () => {
    for (const zeroCopyVectors of [false, true]) {
      const got = await runThrough(zeroCopyVectors, 1, 600, (s) =>
        s
          .map((r) => {
            const k = r.uid % 5n;
            // Same vector, new uid and ts: written back into the batch.
            if (k === 0n) return { uid: r.uid + 100_000n, ts: 7, vector: r.vector };
            // A new vector: cannot stay in place, goes as a copy between in-place rows.
            if (k === 1n) return { uid: r.uid, ts: r.ts, vector: r.vector.map((x) => -x) };
            return r;
          })
          // Every record twice: the repeat of a row already sent on must be a copy.
          .flatMap((r) => [r, r]),
      );
      const one = (i: number): { uid: number; vec: number[]; ts?: number } => {
        const v = [...vectorOf(i)];
        if (i % 5 === 0) return { uid: i + 100_000, vec: v, ts: 7 };
        if (i % 5 === 1) return { uid: i, vec: v.map((x) => -x) };
        return { uid: i, vec: v };
      };
      const expected = Array.from({ length: 600 }, (_, i) => one(i)).flatMap((e) => [e, e]);
      expect(got).toHaveLength(2 * expected.length);
      got.forEach((g, at) => {
        const e = expected[at % expected.length]!;
        expect(Number(g.uid)).toBe(e.uid);
        expect(g.vec).toEqual(e.vec);
        if (e.ts !== undefined) expect(g.ts).toBe(e.ts);
      });
    }
  }, 30_000);

  it('a ring sink after a filter gets only the rows that passed, as a batch of its own', async () => {
    const arena = new FeedArena(1 << 20);
    const batch = arena.take(DIM, 'Float32', 64)!;
    for (let i = 0; i < 60; i++) batch.add(BigInt(i), 1000 + i, vectorOf(i));
    const ring = SharedRing.create({ capacity: 1 << 16 });
    const env = new StreamEnvironment({ workers: 1 });
    async function* feed() {
      yield [batch, new FeedBarrier(1)];
    }
    env
      .fromFeed<VectorRecord>(feed(), { arena })
      .filter((r) => r.uid % 4n === 1n)
      .sink(ring);
    const reader = new StreamEnvironment({ workers: 1 });
    const out: VectorRecord[] = [];
    reader.fromRing<VectorRecord>(ring).sink((r) => void out.push(r));
    await Promise.all([env.execute(), reader.execute()]);
    const passed = Array.from({ length: 15 }, (_, i) => i * 4 + 1);
    expect(out.map((r) => Number(r.uid))).toEqual(passed);
    expect(out.map((r) => r.ts)).toEqual(passed.map((i) => 1000 + i));
    expect(out.map((r) => [...r.vector])).toEqual(passed.map((i) => [...vectorOf(i)]));
  }, 30_000);
});

describe('eager runs', () => {
  it('sends full batches on before run(), and the sink still sees them only in the run that takes them', async () => {
    for (const eager of [true, false]) {
      const svc = new SageFlowService({ dim: DIM, workers: 1, eager });
      svc.transform((s) => s.map((r) => ({ uid: r.uid, ts: r.ts, vector: r.vector.map((x) => x + 1) })));
      const got: number[] = [];
      svc.setSink((uid, _ts, vec) => {
        expect(vec[0]).toBe(Number(uid) + 1);
        got.push(Number(uid));
      });
      svc.push(0, vectorOf(0));
      expect(await svc.run()).toBe(1); // deploys the pipeline
      got.length = 0;
      for (let i = 0; i < 3000; i++) svc.push(i, vectorOf(i));
      // Give the workers time to process what went early: nothing may reach the sink before run().
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(got).toEqual([]);
      expect(await svc.run()).toBe(3000);
      expect(got).toEqual(Array.from({ length: 3000 }, (_, i) => i));
      await svc.close();
    }
  }, 30_000);

  it('keeps push order when pushes made during a run wait and later ones would go early', async () => {
    const svc = new SageFlowService({ dim: DIM, workers: 1 });
    const got: number[] = [];
    let next = 10_000;
    svc.setSink((uid) => {
      got.push(Number(uid));
      // Pushed during the run: these wait for the next run, ahead of anything pushed after it.
      if (uid < 600n) svc.push(next, vectorOf(next++));
    });
    for (let i = 0; i < 600; i++) svc.push(i, vectorOf(i));
    expect(await svc.run()).toBe(600);
    for (let i = 0; i < 1000; i++) svc.push(20_000 + i, vectorOf(20_000 + i));
    got.length = 0;
    expect(await svc.run()).toBe(1600);
    expect(got).toEqual([...Array.from({ length: 600 }, (_, i) => 10_000 + i), ...Array.from({ length: 1000 }, (_, i) => 20_000 + i)]);
    await svc.close();
  }, 30_000);

  it('close() runs what was pushed but never run, sent early or not, each once', async () => {
    const svc = new SageFlowService({ dim: DIM, workers: 2 });
    const uids: bigint[] = [];
    svc.setSink((uid) => void uids.push(uid));
    svc.push(0, vectorOf(0));
    await svc.run();
    for (let i = 1; i <= 2000; i++) svc.push(i, vectorOf(i));
    await svc.close();
    expect(uids).toEqual(Array.from({ length: 2001 }, (_, i) => BigInt(i)));
  }, 30_000);
});

describe('a pipeline that dies', () => {
  it('fails the run waiting on it, and every run after it', async () => {
    const svc = new SageFlowService({ dim: DIM, workers: 1 });
    svc.transform((s) =>
      s.map((r) => {
        if (r.uid === 1005n) process.exit(3); // the worker thread dies mid-run
        return r;
      }),
    );
    svc.setSink(() => {});
    svc.push(0, vectorOf(0));
    expect(await svc.run()).toBe(1);
    for (let i = 1000; i < 1010; i++) svc.push(i, vectorOf(i));
    await expect(svc.run()).rejects.toMatchObject({ code: 'ERR_JOB_FAILED' });
    svc.push(1, vectorOf(1));
    await expect(svc.run()).rejects.toMatchObject({ code: 'ERR_JOB_FAILED' });
    await svc.close().catch(() => undefined);
  }, 30_000);
});

describe('owned copies of wide batches', () => {
  // dim 512: a batch's rows are 2 KiB each, so its private copy is made in several pieces (each
  // under malloc's mmap threshold); rows in every piece must be sent on in place and arrive intact.
  const WIDE = 512;
  const wideOf = (uid: number) => Float32Array.from({ length: WIDE }, (_, d) => uid + d / 1000);

  it('every survivor arrives once, in order, changed; vectors the sink kept stay as they were', async () => {
    const svc = new SageFlowService({ dim: WIDE, workers: 1 });
    svc.transform((s) =>
      s.filter((r) => r.uid % 7n !== 3n).map((r) => {
        for (let d = 0; d < r.vector.length; d++) r.vector[d]! += 1;
        return r;
      }),
    );
    const kept: { uid: bigint; vector: Float32Array | Float64Array }[] = [];
    svc.setSink((uid, _ts, vector) => void kept.push({ uid, vector }));
    const count = 1500;
    // Two runs: the second reuses the queue's memory, which must not show through what was kept.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < count; i++) svc.push(round * count + i, wideOf(round * count + i));
      await svc.run();
    }
    await svc.close();
    const expected = Array.from({ length: 2 * count }, (_, i) => i).filter((i) => i % 7 !== 3);
    expect(kept.map((k) => Number(k.uid))).toEqual(expected);
    for (const k of kept) expect([...k.vector]).toEqual([...wideOf(Number(k.uid)).map((x) => x + 1)]);
  }, 30_000);
});
