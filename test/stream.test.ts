import { describe, expect, it } from 'vitest';
import { SharedRing } from '../src/ring/index.js';
import { JobFailedError, op, OperatorFunctionError, STOP, StreamEnvironment } from '../src/stream/index.js';

const OPS = new URL('./fixtures/stream-ops.ts', import.meta.url).href;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('StreamEnvironment basics', () => {
  it('runs map → filter → flatMap on worker instances and delivers every record', async () => {
    const env = new StreamEnvironment({ workers: 2 });
    const out: number[] = [];
    env
      .fromIterable(range(1000))
      .map((x) => x * 2)
      .filter((x) => x % 3 !== 0)
      .flatMap((x) => [x, -x])
      .sink((x) => void out.push(x));
    const result = await env.execute();
    const expected = range(1000).map((x) => x * 2).filter((x) => x % 3 !== 0).flatMap((x) => [x, -x]);
    expect(out.sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
    expect(result.sources.source).toBe(1000);
    expect(result.sinks.sink).toBe(expected.length);
    expect(env.explain()).toMatch(/worker ×2: map → filter → flatMap/);
  }, 30_000);

  it('keyBy hash sends each key to one instance and keeps its order', async () => {
    const env = new StreamEnvironment({ workers: 2 });
    const seen: { key: number; seq: number; instance: number }[] = [];
    env
      .fromIterable(range(3000).map((i) => ({ key: i % 17, seq: i })))
      .keyBy((r) => r.key)
      .map((r, ctx) => ({ ...r, instance: ctx.instance }))
      .sink((r) => void seen.push(r));
    await env.execute();
    expect(seen).toHaveLength(3000);
    const instanceOf = new Map<number, number>();
    const lastSeq = new Map<number, number>();
    for (const r of seen) {
      expect(instanceOf.get(r.key) ?? r.instance).toBe(r.instance);
      instanceOf.set(r.key, r.instance);
      expect(r.seq).toBeGreaterThan(lastSeq.get(r.key) ?? -1);
      lastSeq.set(r.key, r.seq);
    }
    expect(new Set(instanceOf.values()).size).toBe(2); // 17 keys spread over both instances
  }, 30_000);

  it('broadcast reaches every instance; round-robin spreads evenly', async () => {
    const env = new StreamEnvironment({ workers: 2 });
    const broadcast: { id: number; instance: number }[] = [];
    const spread: { id: number; instance: number }[] = [];
    const source = env.fromIterable(range(500).map((id) => ({ id })));
    source.keyBy((r) => r.id, { strategy: 'broadcast' }).map(op(OPS, 'tag')).sink((r) => void broadcast.push(r as never));
    source.keyBy((r) => r.id, { strategy: 'roundRobin' }).map(op(OPS, 'tag')).sink((r) => void spread.push(r as never));
    await env.execute();
    expect(broadcast).toHaveLength(1000);
    for (const id of range(500)) {
      expect(broadcast.filter((r) => r.id === id).map((r) => r.instance).sort()).toEqual([0, 1]);
    }
    const perInstance = [0, 1].map((i) => spread.filter((r) => r.instance === i).length);
    expect(perInstance).toEqual([250, 250]);
  }, 30_000);

  it('runs operators exported by a TypeScript module (op)', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const out: number[] = [];
    env.fromIterable([1, 2, 3]).map(op(OPS, 'triple')).sink((x) => void out.push(x as number));
    await env.execute();
    expect(out).toEqual([3, 6, 9]);
  }, 30_000);

  it('fromSource ends on STOP; fromAsyncIterable; async sinks are awaited', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    let i = 0;
    const a: number[] = [];
    const b: number[] = [];
    env.fromSource(() => (i < 5 ? i++ : STOP)).map((x) => x + 100).sink((x) => void a.push(x));
    async function* gen() {
      for (let j = 0; j < 5; j++) yield j;
    }
    env.fromAsyncIterable(gen()).map((x) => x * 10).sink(async (x) => {
      await new Promise((r) => setTimeout(r, 1));
      b.push(x);
    });
    await env.execute();
    expect(a).toEqual([100, 101, 102, 103, 104]);
    expect(b).toEqual([0, 10, 20, 30, 40]);
  }, 30_000);

  it.runIf(process.platform === 'linux')("runs operators below the main thread's priority unless told otherwise", async () => {
    for (const [workerPriority, nice] of [[undefined, 10], ['normal', 0]] as const) {
      const env = new StreamEnvironment({ workers: 1, workerPriority });
      const out: { nice: number | null }[] = [];
      env.fromIterable([1, 2]).map(op(OPS, 'withNice')).sink((r) => void out.push(r as never));
      await env.execute();
      expect(out.map((r) => r.nice)).toEqual([nice, nice]);
    }
    expect(() => new StreamEnvironment({ workerPriority: 'realtime' as never })).toThrow(/priority must be/);
  }, 30_000);

  it('gives operator threads the heap limits of workerResourceLimits, and checks them up front', async () => {
    const env = new StreamEnvironment({ workers: 1, workerResourceLimits: { maxYoungGenerationSizeMb: 4 } });
    const out: { youngMb: number | undefined }[] = [];
    env.fromIterable([1, 2]).map(op(OPS, 'withLimits')).sink((r) => void out.push(r as never));
    await env.execute();
    expect(out.map((r) => r.youngMb)).toEqual([4, 4]);
    expect(() => new StreamEnvironment({ workerResourceLimits: { maxYoungGenerationSizeMb: 0 } })).toThrow(/maxYoungGenerationSizeMb must be a positive number/);
    expect(() => new StreamEnvironment({ workerResourceLimits: { youngMb: 4 } as never })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_OPTION', message: expect.stringMatching(/maxYoungGenerationSizeMb/) }));
  }, 30_000);

  it('a ring sink feeds another pipeline through fromRing', async () => {
    const ring = SharedRing.create({ capacity: 1 << 12 });
    const first = new StreamEnvironment({ workers: 1 });
    first.fromIterable(range(2000)).map((x) => ({ x })).sink(ring);
    const second = new StreamEnvironment({ workers: 1 });
    const out: number[] = [];
    second.fromRing<{ x: number }>(ring).map((r) => r.x).sink((x) => void out.push(x));
    await Promise.all([first.execute(), second.execute()]);
    expect(out).toEqual(range(2000));
  }, 30_000);

  it('a slow sink holds the pipeline back through bounded rings, losing nothing', async () => {
    const env = new StreamEnvironment({ workers: 2, ringCapacity: 1 << 12 });
    let received = 0;
    env.fromIterable(range(20_000)).map((x) => ({ x, pad: 'y'.repeat(50) })).sink(async () => {
      received++;
      if (received % 2000 === 0) await new Promise((r) => setTimeout(r, 5));
    });
    const result = await env.execute();
    expect(received).toBe(20_000);
    expect(result.sinks.sink).toBe(20_000);
  }, 30_000);
});

describe('StreamEnvironment bad input and failures', () => {
  it('refuses a function that captures an outer variable, naming the operator and the variable', () => {
    const env = new StreamEnvironment({ workers: 1 });
    const threshold = 0.5;
    expect(() => env.fromIterable([1]).filter((x) => x > threshold, { name: 'aboveThreshold' })).toThrow(OperatorFunctionError);
    expect(() => env.fromIterable([1]).filter((x) => x > threshold, { name: 'aboveThreshold' })).toThrow(/'aboveThreshold'.*'threshold'/);
  });

  it('refuses a stream without a sink, and bad options, up front', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    env.fromIterable([1]).map((x) => x);
    await expect(env.execute()).rejects.toThrow(/must end in a sink/);
    expect(() => new StreamEnvironment({ workers: 0 })).toThrow(/positive integer/);
    expect(() => env.fromIterable([1]).map((x) => x, { parallelism: 1.5 })).toThrow(/parallelism/);
    expect(() => env.fromIterable([1]).window({ tumbling: -1 })).toThrow(/positive/);
  });

  it('sends a record an operator threw on to the error handler and keeps the rest', async () => {
    const env = new StreamEnvironment({ workers: 2 });
    const out: number[] = [];
    const failures: { operator: string; key: string | undefined; record: unknown; message: string }[] = [];
    env.onError((f) => failures.push({ operator: f.operator, key: f.key, record: f.record, message: f.error.message }));
    env
      .fromIterable(range(100).map((id) => ({ id })))
      .keyBy((r) => `k${r.id % 4}`)
      .map((r) => {
        if (r.id === 42) throw new Error('bad record');
        return r.id;
      }, { name: 'risky' })
      .sink((x) => void out.push(x));
    await env.execute();
    expect(out.sort((a, b) => a - b)).toEqual(range(100).filter((x) => x !== 42));
    expect(failures).toEqual([{ operator: 'risky', key: 'k2', record: { id: 42 }, message: 'bad record' }]);
  }, 30_000);

  it('a worker that dies fails execute() instead of hanging', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    env.fromIterable(range(10)).map(op(OPS, 'crashOnThree')).sink(() => {});
    await expect(env.execute()).rejects.toMatchObject({ code: 'ERR_JOB_FAILED' });
  }, 30_000);

  it('without a handler, execute() rejects with the operator, the key and the cause, after delivering the rest', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const out: number[] = [];
    env
      .fromIterable(range(10).map((id) => ({ id, user: `u${id % 3}` })))
      .keyBy((r) => r.user)
      .reduce((a, b) => {
        if (b.id === 7) throw new Error('cannot add 7');
        return { id: a.id + b.id, user: a.user };
      }, { name: 'sum' })
      .sink((r) => void out.push(r.id));
    const error = await env.execute().then(() => null, (e: JobFailedError) => e);
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error?.message).toMatch(/operator 'sum' failed on key u1: cannot add 7/);
    expect(out).toHaveLength(9);
  }, 30_000);
});
