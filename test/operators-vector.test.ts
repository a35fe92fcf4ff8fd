import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ArrayCollector,
  DUPLICATE_OUTPUT,
  DimensionMismatchError,
  InvalidArgumentError,
  SimilarityDedup,
  SimilarityJoin,
  TopKOperator,
  cosineSimilarity,
  dot,
  l2Distance,
  l2Similarity,
  norm,
  similarity,
  type DuplicateRecord,
  type SimilarPair,
  type SimilarityMetric,
  type TopKResult,
  type VectorArray,
  type VectorItem,
} from '../src/stream/operators/index.js';

const TIMEOUT = 20_000;

/** Coordinates on a coarse grid (k/4), so equal distances and scores, i.e. ties, are common. */
const vectorArb = (dim: number) => fc.array(fc.integer({ min: -8, max: 8 }).map((n) => n / 4), { minLength: dim, maxLength: dim });
const asF32 = (v: readonly number[]) => Float32Array.from(v);

describe('vector math', () => {
  it(
    'l2, dot, norm and cosine match their textbook formulas',
    () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 8 }).chain((d) => fc.tuple(vectorArb(d), vectorArb(d))), ([a, b]) => {
          const x = Float64Array.from(a);
          const y = Float64Array.from(b);
          const d = Math.hypot(...a.map((v, i) => v - b[i]!));
          const ab = a.reduce((s, v, i) => s + v * b[i]!, 0);
          expect(l2Distance(x, y)).toBeCloseTo(d, 12);
          expect(l2Similarity(x, y)).toBeCloseTo(Math.exp(-0.1 * d), 12);
          expect(dot(x, y)).toBeCloseTo(ab, 12);
          expect(norm(x)).toBeCloseTo(Math.hypot(...a), 12);
          const denominator = Math.hypot(...a) * Math.hypot(...b);
          expect(cosineSimilarity(x, y)).toBeCloseTo(denominator === 0 ? 0 : ab / denominator, 12);
        }),
        { numRuns: 300 },
      );
    },
    TIMEOUT,
  );

  it(
    'a length mismatch is a RangeError with code ERR_DIM_MISMATCH',
    () => {
      const error = (() => {
        try {
          dot(new Float32Array(3), new Float32Array(4));
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(DimensionMismatchError);
      expect(error).toBeInstanceOf(RangeError);
      expect((error as DimensionMismatchError).code).toBe('ERR_DIM_MISMATCH');
    },
    TIMEOUT,
  );
});

describe('topK against a fixed set', () => {
  /** Brute force: sort every member by distance (l2) or score, ties by lower index. */
  function reference(metric: SimilarityMetric, set: Float32Array[], query: VectorArray, k: number) {
    const scored = set.map((m, index) => ({
      index,
      order: metric === 'l2' ? -l2Distance(query, m) : similarity(metric, query, m),
      score: similarity(metric, query, m),
    }));
    scored.sort((a, b) => b.order - a.order || a.index - b.index);
    return scored.slice(0, k).map(({ index, score }) => ({ index, score }));
  }

  it(
    'equals brute force for l2, cosine and dot, with k above and below the set size and ties by index',
    () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 5 }).chain((dim) =>
            fc.record({
              dim: fc.constant(dim),
              set: fc.array(vectorArb(dim), { maxLength: 14 }),
              queries: fc.array(fc.tuple(vectorArb(dim), fc.boolean()), { minLength: 1, maxLength: 5 }),
            }),
          ),
          fc.integer({ min: 1, max: 16 }),
          fc.constantFrom<SimilarityMetric>('l2', 'cosine', 'dot'),
          ({ dim, set, queries }, k, metric) => {
            const members = set.map(asF32);
            const topK = new TopKOperator<number, string>({ k, metric, dim, vectors: members, ids: members.map((_, i) => `m${i}`) });
            const out = new ArrayCollector<TopKResult<number, string>>();
            queries.forEach(([q, wide], i) => {
              const query = wide ? Float64Array.from(q) : asF32(q); // queries of either dtype, used as given
              topK.process({ id: i, vector: query }, i, out);
              const expected = reference(metric, members, query, k);
              const got = out.main[i]!.value;
              expect(got.id).toBe(i);
              expect(got.hits.map((h) => ({ index: h.index, score: h.score }))).toEqual(expected);
              expect(got.hits.map((h) => h.id)).toEqual(expected.map((e) => `m${e.index}`));
            });
          },
        ),
        { numRuns: 400 },
      );
    },
    TIMEOUT,
  );

  it(
    'ties: equal members keep index order; default ids are indices; empty set gives no hits',
    () => {
      const v = asF32([1, 0]);
      const topK = new TopKOperator<string>({ k: 2, metric: 'l2', dim: 2, vectors: [asF32([5, 5]), v, v, v] });
      expect(topK.search(asF32([1, 0]))).toEqual([
        { id: 1, index: 1, score: 1 },
        { id: 2, index: 2, score: 1 },
      ]);
      const empty = new TopKOperator<string>({ k: 3, metric: 'cosine', dim: 2, vectors: [] });
      expect(empty.search(v)).toEqual([]);
      expect(() => empty.search(asF32([1]))).toThrow(DimensionMismatchError);
    },
    TIMEOUT,
  );

  it(
    'scales: 20k x 64 set, 50 queries, matches a spot brute-force check',
    () => {
      const dim = 64;
      let seed = 1;
      const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
      const set = Array.from({ length: 20_000 }, () => Float32Array.from({ length: dim }, random));
      const topK = new TopKOperator<number>({ k: 10, metric: 'cosine', dim, vectors: set });
      let last: ReturnType<TopKOperator<number>['search']> = [];
      const query = Float32Array.from({ length: dim }, random);
      for (let i = 0; i < 50; i++) last = topK.search(query);
      expect(last.map((h) => h.index)).toEqual(reference('cosine', set, query, 10).map((h) => h.index));
    },
    TIMEOUT,
  );

  it(
    'rejects k <= 0 or non-integer, a bad metric, and set or query vectors of the wrong dim',
    () => {
      const set = [asF32([1, 2])];
      for (const k of [0, -1, 1.5, NaN]) {
        expect(() => new TopKOperator({ k, metric: 'l2', dim: 2, vectors: set })).toThrow(InvalidArgumentError);
      }
      expect(() => new TopKOperator({ k: 1, metric: 'hamming' as 'l2', dim: 2, vectors: set })).toThrow(InvalidArgumentError);
      expect(() => new TopKOperator({ k: 1, metric: 'l2', dim: 2, vectors: set, ids: ['a', 'b'] })).toThrow(InvalidArgumentError);
      const dimError = (() => {
        try {
          new TopKOperator({ k: 1, metric: 'l2', dim: 2, vectors: [asF32([1, 2]), asF32([1, 2, 3])] });
        } catch (e) {
          return e;
        }
      })();
      expect(dimError).toBeInstanceOf(RangeError);
      expect((dimError as DimensionMismatchError).code).toBe('ERR_DIM_MISMATCH');
      const topK = new TopKOperator({ k: 1, metric: 'dot', dim: 2, vectors: set });
      expect(() => topK.process({ id: 0, vector: asF32([1, 2, 3]) }, 0, new ArrayCollector())).toThrow(DimensionMismatchError);
    },
    TIMEOUT,
  );
});

type Arrival = { side: 'left' | 'right'; vector: number[]; ts: number };

const arrivalsArb = (dim: number) =>
  fc.array(
    fc.record({ side: fc.constantFrom('left' as const, 'right' as const), vector: vectorArb(dim), ts: fc.integer({ min: 0, max: 50 }) }),
    { maxLength: 40 },
  );

const thresholdFor = (metric: SimilarityMetric) =>
  metric === 'l2' ? fc.constantFrom(0.5, 0.8, 0.9, 0.95, 1) : fc.constantFrom(-0.5, 0, 0.5, 0.9, 1);

describe('similarity join', () => {
  /** Brute force: each arrival against the other side's last `capacity` arrivals, oldest first. */
  function reference(arrivals: Arrival[], metric: SimilarityMetric, threshold: number, capacity: number, withinMs: number) {
    const pairs: SimilarPair<number, number>[] = [];
    arrivals.forEach((a, id) => {
      const other = arrivals
        .map((x, xid) => ({ ...x, id: xid }))
        .slice(0, id)
        .filter((x) => x.side !== a.side)
        .slice(-capacity);
      for (const o of other) {
        if (Math.abs(o.ts - a.ts) > withinMs) continue;
        const [l, r] = a.side === 'left' ? [{ ...a, id }, o] : [o, { ...a, id }];
        const score = similarity(metric, asF32(l.vector), asF32(r.vector));
        if (score >= threshold) pairs.push({ leftId: l.id, rightId: r.id, score, leftTs: l.ts, rightTs: r.ts });
      }
    });
    return pairs;
  }

  it(
    'emits the brute-force pairs, in order, with the same scores',
    () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 4 }).chain((dim) => fc.tuple(fc.constant(dim), arrivalsArb(dim))),
          fc.constantFrom<SimilarityMetric>('l2', 'cosine').chain((metric) => fc.tuple(fc.constant(metric), thresholdFor(metric))),
          fc.integer({ min: 1, max: 8 }),
          fc.constantFrom(Infinity, 0, 10),
          ([dim, arrivals], [metric, threshold], capacity, withinMs) => {
            const join = new SimilarityJoin<number, number>({
              dim,
              metric,
              threshold,
              capacity,
              withinMs: withinMs === Infinity ? undefined : withinMs,
            });
            const out = new ArrayCollector<SimilarPair<number, number>>();
            arrivals.forEach((a, id) => {
              const item: VectorItem<number> = { id, vector: Float64Array.from(a.vector) };
              join.process(a.side, item, a.ts, out);
            });
            expect(out.values()).toEqual(reference(arrivals, metric, threshold, capacity, withinMs));
            for (const { value, ts } of out.main) expect(ts).toBe(Math.max(value.leftTs, value.rightTs));
            join.flush(out);
          },
        ),
        { numRuns: 400 },
      );
    },
    TIMEOUT,
  );

  it(
    'l2 threshold: similarity exp(-0.1 d) >= threshold; one empty side emits nothing',
    () => {
      const join = new SimilarityJoin<string, string>({ dim: 2, metric: 'l2', threshold: Math.exp(-0.1 * 5) });
      const out = new ArrayCollector<SimilarPair<string, string>>();
      join.process('left', { id: 'a', vector: asF32([0, 0]) }, 1, out);
      join.process('left', { id: 'b', vector: asF32([0, 0]) }, 2, out);
      expect(out.main).toEqual([]);
      join.process('right', { id: 'near', vector: asF32([3, 4]) }, 3, out); // d = 5: exactly at threshold
      join.process('right', { id: 'far', vector: asF32([3, 4.01]) }, 4, out);
      expect(out.values().map((p) => [p.leftId, p.rightId])).toEqual([
        ['a', 'near'],
        ['b', 'near'],
      ]);
      expect(out.values()[0]!.score).toBeCloseTo(Math.exp(-0.5), 6);
      join.flush(out);
      expect(() => join.process('left', { id: 'bad', vector: asF32([1, 2, 3]) }, 5, out)).toThrow(DimensionMismatchError);
    },
    TIMEOUT,
  );

  it(
    'rejects bad options with ERR_INVALID_ARGUMENT',
    () => {
      const good = { dim: 2, metric: 'cosine' as const, threshold: 0.9 };
      const bad = [
        { ...good, dim: 0 },
        { ...good, dim: 1.5 },
        { ...good, capacity: 0 },
        { ...good, threshold: NaN },
        { ...good, withinMs: -1 },
        { ...good, metric: 'manhattan' as 'l2' },
        { ...good, dtype: 'Int8' as 'Float32' },
      ];
      for (const options of bad) {
        expect(() => new SimilarityJoin(options)).toThrow(InvalidArgumentError);
        expect(() => new SimilarityDedup(options)).toThrow(InvalidArgumentError);
      }
    },
    TIMEOUT,
  );
});

describe('similarity dedup (self-join)', () => {
  function reference(vectors: number[][], metric: SimilarityMetric, threshold: number, capacity: number) {
    const kept: { id: number; v: Float32Array }[] = [];
    const unique: number[] = [];
    const duplicates: { id: number; duplicateOf: number; score: number }[] = [];
    vectors.forEach((raw, id) => {
      const v = asF32(raw);
      let best: { id: number; score: number } | undefined;
      for (const k of kept) {
        const score = similarity(metric, v, k.v);
        if (score >= threshold && (best === undefined || score > best.score)) best = { id: k.id, score };
      }
      if (best === undefined) {
        unique.push(id);
        kept.push({ id, v });
        if (kept.length > capacity) kept.shift();
      } else duplicates.push({ id, duplicateOf: best.id, score: best.score });
    });
    return { unique, duplicates };
  }

  it(
    'passes exactly the vectors with no kept match; duplicates name their best match',
    () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 3 }).chain((dim) => fc.tuple(fc.constant(dim), fc.array(vectorArb(dim), { maxLength: 40 }))),
          fc.constantFrom<SimilarityMetric>('l2', 'cosine'),
          fc.integer({ min: 1, max: 6 }),
          ([dim, vectors], metric, capacity) => {
            const threshold = metric === 'l2' ? 0.9 : 0.95;
            const dedup = new SimilarityDedup<number>({ dim, metric, threshold, capacity });
            const out = new ArrayCollector<VectorItem<number>>();
            vectors.forEach((v, id) => dedup.process({ id, vector: asF32(v) }, id, out));
            const expected = reference(vectors, metric, threshold, capacity);
            expect(out.values().map((item) => item.id)).toEqual(expected.unique);
            const duplicates = out.sideValues(DUPLICATE_OUTPUT) as DuplicateRecord<number>[];
            expect(duplicates.map(({ id, duplicateOf, score }) => ({ id, duplicateOf, score }))).toEqual(expected.duplicates);
            for (const d of duplicates) expect(d.duplicateOfTs).toBe(d.duplicateOf);
          },
        ),
        { numRuns: 400 },
      );
    },
    TIMEOUT,
  );

  it(
    'withinMs limits how far back a match counts',
    () => {
      const dedup = new SimilarityDedup<string>({ dim: 2, metric: 'cosine', threshold: 0.99, withinMs: 100 });
      const out = new ArrayCollector<VectorItem<string>>();
      dedup.process({ id: 'a', vector: asF32([1, 1]) }, 0, out);
      dedup.process({ id: 'a2', vector: asF32([2, 2]) }, 50, out); // same direction, in time: duplicate
      dedup.process({ id: 'a3', vector: asF32([3, 3]) }, 500, out); // too long after: new again
      expect(out.values().map((i) => i.id)).toEqual(['a', 'a3']);
      expect(out.sideValues(DUPLICATE_OUTPUT)).toEqual([{ id: 'a2', ts: 50, duplicateOf: 'a', duplicateOfTs: 0, score: expect.closeTo(1, 6) }]);
    },
    TIMEOUT,
  );
});
