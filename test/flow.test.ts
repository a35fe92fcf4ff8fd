import { describe, expect, it } from 'vitest';
import { SageFlowService } from '../src/flow/index.js';
import { spawnWorker } from '../src/pool/index.js';

const PUSHER = new URL('./fixtures/flow-pusher.ts', import.meta.url);

describe('SageFlowService', () => {
  it('runs what was queued, resolves with the count, and hands uid, ts and the vector to the sink', async () => {
    const svc = new SageFlowService({ dim: 4, workers: 2 });
    const got: { uid: bigint; ts: number; vec: number[] }[] = [];
    svc.setSink((uid, ts, vec) => void got.push({ uid, ts, vec: [...vec] }), 'my_sink');
    expect(await svc.run()).toBe(0);
    const before = Date.now();
    for (let i = 0; i < 10; i++) svc.push(BigInt(i), [i, 0.5, 0.25, 0.125]);
    expect(svc.queued).toBe(10);
    expect(await svc.run()).toBe(10);
    expect(got.map((g) => g.uid).sort((a, b) => Number(a - b))).toEqual([...Array(10).keys()].map(BigInt));
    const three = got.find((g) => g.uid === 3n)!;
    expect(three.vec).toEqual([3, 0.5, 0.25, 0.125]);
    expect(three.ts).toBeGreaterThanOrEqual(before - 1);
    svc.push(100n, [1, 2, 3, 4]);
    expect(await svc.run()).toBe(1);
    expect(got).toHaveLength(11);
    await svc.close();
  }, 30_000);

  it('honours Float64 end to end and runs custom operators from env/transform', async () => {
    const svc = new SageFlowService({ dim: 3, dtype: 'Float64', workers: 2 });
    const got: { uid: bigint; vec: Float64Array | Float32Array }[] = [];
    svc.transform((s) => s.filter((r) => r.vector[0]! > 0).map((r) => ({ uid: r.uid, ts: r.ts, vector: r.vector.map((x) => x * 2) })));
    svc.setSink((uid, _ts, vec) => void got.push({ uid, vec }));
    const precise = 0.1 + 1e-12; // not representable in Float32
    svc.push(1n, [precise, 1, 2]);
    svc.push(2n, [-1, 1, 2]);
    expect(await svc.run()).toBe(2);
    expect(got).toHaveLength(1);
    expect(got[0]!.vec).toBeInstanceOf(Float64Array);
    expect(got[0]!.vec[0]).toBe(precise * 2);
    await svc.close();
  }, 30_000);

  it('rejects bad vectors at push, queueing nothing', async () => {
    const svc = new SageFlowService({ dim: 4, workers: 1 });
    svc.setSink(() => {});
    expect(() => svc.push(1n, [1, 2, 3])).toThrow(RangeError);
    expect(() => svc.push(1n, [1, 2, 3])).toThrow(expect.objectContaining({ code: 'ERR_DIM_MISMATCH' }));
    expect(() => svc.push(1n, [1, 2, 'x', 4] as never)).toThrow(TypeError);
    expect(() => svc.push(1n, [1, 2, Number.NaN, 4])).toThrow(TypeError);
    expect(() => svc.push(-1, [1, 2, 3, 4])).toThrow(TypeError);
    // Typed vectors are checked where they land: NaN is refused, and so is a Float64 value that a
    // Float32 row cannot hold; each with a stable code.
    expect(() => svc.push(2, Float32Array.of(1, 2, Number.POSITIVE_INFINITY, 4))).toThrow(expect.objectContaining({ name: 'InvalidValueError', code: 'ERR_INVALID_VALUE' }));
    expect(() => svc.push(2, Float64Array.of(1, 2, 3, 1e300))).toThrow(expect.objectContaining({ name: 'ValueOutOfRangeError', code: 'ERR_OUT_OF_RANGE' }));
    expect(() => svc.push(2, Float64Array.of(1, 2, 3))).toThrow(expect.objectContaining({ code: 'ERR_DIM_MISMATCH' }));
    expect(() => new SageFlowService({ dim: 0 })).toThrow(/dim must be a positive integer/);
    expect(() => new SageFlowService({ dtype: 'Int8' as never })).toThrow(/dtype/);
    expect(svc.queued).toBe(0);
    expect(await svc.run()).toBe(0);
    await svc.close();
  }, 30_000);

  it('takes pushes from other threads through its handle', async () => {
    const svc = new SageFlowService({ dim: 4, workers: 1 });
    const uids: bigint[] = [];
    svc.setSink((uid) => void uids.push(uid));
    const workers = [0, 1].map((w) => spawnWorker(PUSHER, { handle: svc.handle, base: w * 1000, count: 500 }));
    await Promise.all(workers.map((w) => new Promise((resolve, reject) => w.once('exit', resolve).once('error', reject))));
    svc.push(5000n, [1, 1, 1, 1]);
    expect(await svc.run()).toBe(1001);
    expect(uids).toHaveLength(1001);
    expect(new Set(uids).size).toBe(1001);
    await svc.close();
  }, 30_000);
});
