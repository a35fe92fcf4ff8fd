import { describe, expect, it } from 'vitest';
import { STOP, StreamEnvironment, type SideOutput } from '../src/stream/index.js';

/** Deterministic pseudo-random numbers (tests must be reproducible). */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('windows, joins and vector operators in the pipeline', () => {
  it('event-time tumbling windows per key: out-of-order events count, late ones go to the side output', async () => {
    const env = new StreamEnvironment({ workers: 2 });
    // Events for 3 keys over 10 s, shuffled within 300 ms; the watermark trails by 500 ms.
    const random = rng(7);
    const events = Array.from({ length: 3000 }, (_, i) => ({ key: `k${i % 3}`, ts: Math.floor(i * 3.3), n: 1 }))
      .map((e) => ({ e, at: e.ts + random() * 300 }))
      .sort((a, b) => a.at - b.at)
      .map(({ e }) => e);
    // Three events far behind the watermark: too late for their (long closed) windows.
    events.splice(2500, 0, { key: 'k0', ts: 10, n: 1 }, { key: 'k1', ts: 20, n: 1 }, { key: 'k2', ts: 30, n: 1 });
    const results: { key: string; window: { start: number; end: number }; value: number }[] = [];
    const late: SideOutput[] = [];
    env.onSideOutput((s) => late.push(s));
    env
      .fromIterable(events, { timestamp: (e) => (e as { ts: number }).ts, outOfOrdernessMs: 500 })
      .keyBy((e) => e.key)
      .window({ tumbling: 1000, on: 'eventTime', allowedLatenessMs: 0 })
      .aggregate({ createAccumulator: () => 0, add: (acc: number, e: { n: number }) => acc + e.n }, { name: 'count' })
      .sink((r) => void results.push(r as never));
    await env.execute();

    const expected = new Map<string, number>();
    for (const e of events.slice(0, 2500).concat(events.slice(2503))) {
      const id = `${e.key}@${Math.floor(e.ts / 1000) * 1000}`;
      expected.set(id, (expected.get(id) ?? 0) + 1);
    }
    const got = new Map<string, number>();
    for (const r of results) got.set(`${r.key}@${r.window.start}`, r.value); // upserts: keep the latest
    const diff = [...new Set([...got.keys(), ...expected.keys()])].filter((k) => got.get(k) !== expected.get(k)).map((k) => `${k}: got ${got.get(k)} want ${expected.get(k)}`);
    expect(diff).toEqual([]);
    expect(late.map((l) => l.tag)).toEqual(['late', 'late', 'late']);
    expect(late.map((l) => (l.value as { value: { ts: number } }).value.ts).sort((a, b) => a - b)).toEqual([10, 20, 30]);
  }, 30_000);

  it('count windows per key fire every n records (partial windows flushed at the end)', async () => {
    const env = new StreamEnvironment({ workers: 2 });
    const results: { key: number; value: number[] }[] = [];
    env
      .fromIterable(Array.from({ length: 50 }, (_, i) => ({ k: i % 2, i })))
      .keyBy((r) => r.k)
      .window({ count: 10 })
      .aggregate({ createAccumulator: () => [] as number[], add: (acc: number[], r: { i: number }) => [...acc, r.i] })
      .sink((r) => void results.push(r as never));
    await env.execute();
    const byKey = (k: number) => results.filter((r) => r.key === k).map((r) => r.value);
    expect(byKey(0)).toEqual([
      [0, 2, 4, 6, 8, 10, 12, 14, 16, 18],
      [20, 22, 24, 26, 28, 30, 32, 34, 36, 38],
      [40, 42, 44, 46, 48],
    ]);
    expect(byKey(1).flat()).toEqual(Array.from({ length: 25 }, (_, i) => 2 * i + 1));
  }, 30_000);

  it('an interval join by key matches a brute-force join, and ends when one side is empty', async () => {
    const random = rng(11);
    const orders = Array.from({ length: 300 }, (_, i) => ({ user: `u${Math.floor(random() * 20)}`, ts: i * 10, order: i }));
    const clicks = Array.from({ length: 300 }, (_, i) => ({ user: `u${Math.floor(random() * 20)}`, ts: i * 10 + 3, click: i }));
    const env = new StreamEnvironment({ workers: 2 });
    const pairs: [number, number][] = [];
    env
      .fromIterable(orders, { timestamp: (o) => (o as { ts: number }).ts })
      .join(env.fromIterable(clicks, { timestamp: (c) => (c as { ts: number }).ts }), {
        leftKey: (o) => o.user,
        rightKey: (c) => c.user,
        withinMs: 50,
        select: (o, c) => [o.order, c.click] as [number, number],
      })
      .sink((p) => void pairs.push(p));
    await env.execute();
    const expected: [number, number][] = [];
    for (const o of orders) for (const c of clicks) if (o.user === c.user && Math.abs(o.ts - c.ts) <= 50) expected.push([o.order, c.click]);
    const sort = (a: [number, number][]) => a.map((p) => p.join(',')).sort();
    expect(sort(pairs)).toEqual(sort(expected));

    const lonely = new StreamEnvironment({ workers: 1 });
    const none: unknown[] = [];
    lonely
      .fromIterable(orders)
      .join(lonely.fromIterable([] as typeof clicks), { leftKey: (o) => o.user, rightKey: (c) => c.user, withinMs: 50 })
      .sink((p) => void none.push(p));
    await lonely.execute();
    expect(none).toEqual([]);
  }, 30_000);

  it('topK and similarity join match brute force on random vectors', async () => {
    const random = rng(3);
    const dim = 8;
    const vec = () => Float32Array.from({ length: dim }, () => Math.round(random() * 4) / 4);
    const set = Array.from({ length: 40 }, vec);
    const queries = Array.from({ length: 60 }, (_, i) => ({ id: i, vector: vec() }));
    const env = new StreamEnvironment({ workers: 2 });
    const top: { record: { id: number }; hits: { id: unknown; score: number }[] }[] = [];
    env.fromIterable(queries).topK(3, { vectors: set, metric: 'cosine' }).sink((r) => void top.push(r as never));
    await env.execute();
    const cosine = (a: Float32Array, b: Float32Array) => {
      let d = 0, na = 0, nb = 0;
      for (let i = 0; i < dim; i++) (d += a[i]! * b[i]!), (na += a[i]! * a[i]!), (nb += b[i]! * b[i]!);
      return na === 0 || nb === 0 ? 0 : d / Math.sqrt(na * nb);
    };
    expect(top).toHaveLength(60);
    for (const r of top) {
      const q = queries[r.record.id]!;
      const scores = set.map((s, i) => ({ id: i, score: cosine(q.vector, s) })).sort((a, b) => b.score - a.score || a.id - b.id);
      expect(r.hits.map((h) => h.score)).toEqual(scores.slice(0, 3).map((s) => expect.closeTo(s.score, 5)));
    }

    const left = Array.from({ length: 50 }, (_, i) => ({ id: i, vector: vec() }));
    const right = Array.from({ length: 50 }, (_, i) => ({ id: 100 + i, vector: vec() }));
    const joinEnv = new StreamEnvironment({ workers: 1 });
    const matches: [number, number][] = [];
    joinEnv
      .fromIterable(left)
      .similarityJoin(joinEnv.fromIterable(right), { threshold: 0.95, metric: 'cosine', withinMs: 1e9, select: (a, b) => [a.id, b.id] as [number, number] })
      .sink((p) => void matches.push(p));
    await joinEnv.execute();
    const expected: string[] = [];
    for (const a of left) for (const b of right) if (cosine(a.vector, b.vector) >= 0.95 - 1e-6) expected.push(`${a.id},${b.id}`);
    expect(matches.map((m) => m.join(',')).sort()).toEqual(expected.sort());
  }, 30_000);
});

describe('processing-time windows', () => {
  it('fire on the clock while records keep coming, and flush the rest at the end', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const windows: { start: number; value: number }[] = [];
    let sent = 0;
    const started = Date.now();
    // Records keep coming until two windows have reached the sink (capped at 10 s): windows must
    // close while the input is still open, not only when it ends.
    env
      .fromSource(async () => {
        if (windows.length >= 2 || Date.now() - started > 10_000) return STOP;
        await new Promise((r) => setTimeout(r, 1));
        return sent++;
      })
      .keyBy(() => 'all')
      .window({ tumbling: 50, on: 'processingTime' })
      .aggregate({ createAccumulator: () => 0, add: (n: number) => n + 1 })
      .sink((w) => void windows.push({ start: w.window.start, value: w.value as number }));
    await env.execute();
    expect(Date.now() - started).toBeLessThan(10_000);
    const counted = new Map<number, number>();
    for (const w of windows) counted.set(w.start, w.value); // upserts: keep the latest
    expect([...counted.values()].reduce((a, b) => a + b, 0)).toBe(sent);
  }, 30_000);
});
