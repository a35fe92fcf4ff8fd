import { describe, expect, it } from 'vitest';
import { op, StreamEnvironment } from '../src/stream/index.js';

const KV = op(new URL('./fixtures/service-kv.ts', import.meta.url).href, 'KvService');

describe('operators calling services', () => {
  it('ctx.services calls a worker service synchronously from inside an operator, and execute() still resolves', async () => {
    const env = new StreamEnvironment({ workers: 2 });
    env.registerService('kv', KV, { placement: 'worker' });
    await env.services.start();
    for (let i = 0; i < 10; i++) await env.services.call('kv', 'set', [`k${i}`, i * 100]);
    const out: { id: number; value: unknown }[] = [];
    env
      .fromIterable(Array.from({ length: 200 }, (_, i) => ({ id: i })))
      .map((r, ctx) => ({ id: r.id, value: ctx.services.kv!.get!(`k${r.id % 10}`) }))
      .sink((r) => void out.push(r));
    await env.execute();
    expect(out).toHaveLength(200);
    for (const r of out) expect(r.value).toBe((r.id % 10) * 100);
    await env.close();
    await env.close();
  }, 30_000);

  it('services execute() started stay callable from the main thread until env.close()', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    env.registerService('kv', KV, { placement: 'worker' });
    const out: number[] = [];
    env.fromIterable([1, 2, 3]).map((x, ctx) => ctx.services.kv!.add!(x, 10) as number).sink((x) => void out.push(x));
    await env.execute();
    expect(out.sort()).toEqual([11, 12, 13]);
    expect(await env.services.call('kv', 'add', [1, 2])).toBe(3);
    await env.close();
  }, 30_000);
});
