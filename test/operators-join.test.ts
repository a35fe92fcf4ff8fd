import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ArrayCollector,
  IntervalJoinOperator,
  InvalidArgumentError,
  LATE_OUTPUT,
  MinWatermark,
  type JoinedPair,
  type LateJoinRecord,
} from '../src/stream/operators/index.js';

const TIMEOUT = 20_000;

type Op =
  | { kind: 'record'; side: 'left' | 'right'; key: number; ts: number; id: number }
  | { kind: 'watermark'; to: number };

const opsArb = fc
  .array(
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('record' as const),
          side: fc.constantFrom('left' as const, 'right' as const),
          key: fc.integer({ min: 0, max: 2 }),
          ts: fc.integer({ min: 0, max: 60 }),
          id: fc.constant(0),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('watermark' as const), to: fc.integer({ min: 0, max: 80 }) }) },
    ),
    { maxLength: 60 },
  )
  .map((ops) => ops.map((op, i) => (op.kind === 'record' ? { ...op, id: i } : op)));

const boundsArb = fc
  .tuple(fc.integer({ min: -15, max: 15 }), fc.integer({ min: 0, max: 20 }))
  .map(([lower, width]) => ({ lowerBoundMs: lower, upperBoundMs: lower + width }));

describe('interval join', () => {
  /** Brute force: every pair of on-time records with the same key and right.ts - left.ts in bounds. */
  function reference(ops: Op[], lower: number, upper: number) {
    const accepted: Extract<Op, { kind: 'record' }>[] = [];
    const late: number[] = [];
    let watermark = -Infinity;
    for (const op of ops) {
      if (op.kind === 'watermark') watermark = Math.max(watermark, op.to);
      else if (op.ts < watermark) late.push(op.id);
      else accepted.push(op);
    }
    const pairs: string[] = [];
    for (const l of accepted.filter((r) => r.side === 'left')) {
      for (const r of accepted.filter((x) => x.side === 'right' && x.key === l.key)) {
        if (r.ts - l.ts >= lower && r.ts - l.ts <= upper) pairs.push(`${l.id}-${r.id}`);
      }
    }
    return { pairs: pairs.sort(), late };
  }

  it(
    'emits exactly the brute-force pairs; late records go to the side output; state empties',
    () => {
      fc.assert(
        fc.property(opsArb, boundsArb, (ops, bounds) => {
          const join = new IntervalJoinOperator<number, number, number>(bounds);
          const out = new ArrayCollector<JoinedPair<number, number, number>>();
          for (const op of ops) {
            if (op.kind === 'record') join.process(op.side, op.key, op.id, op.ts, out);
            else join.onWatermark(op.to);
          }
          const expected = reference(ops, bounds.lowerBoundMs, bounds.upperBoundMs);
          const got = out.main.map(({ value: p, ts }) => {
            expect(ts).toBe(Math.max(p.leftTs, p.rightTs));
            expect(p.rightTs - p.leftTs).toBeGreaterThanOrEqual(bounds.lowerBoundMs);
            expect(p.rightTs - p.leftTs).toBeLessThanOrEqual(bounds.upperBoundMs);
            return `${p.left}-${p.right}`;
          });
          expect(got.sort()).toEqual(expected.pairs);
          expect(out.sideValues(LATE_OUTPUT).map((l) => (l as LateJoinRecord<number>).value)).toEqual(expected.late);
          // Once the watermark is past every record plus the bounds, nothing is buffered.
          join.onWatermark(1_000);
          expect(join.activeKeys).toBe(0);
          join.flush();
        }),
        { numRuns: 400 },
      );
    },
    TIMEOUT,
  );

  it(
    'pairs come in the buffered side\'s time order, ties in arrival order',
    () => {
      const join = new IntervalJoinOperator<string, string, string>({ lowerBoundMs: -10, upperBoundMs: 10 });
      const out = new ArrayCollector<JoinedPair<string, string, string>>();
      join.process('right', 'k', 'r7', 7, out);
      join.process('right', 'k', 'r3', 3, out);
      join.process('right', 'k', 'r3b', 3, out);
      join.process('right', 'other', 'x', 5, out);
      join.process('left', 'k', 'l5', 5, out);
      expect(out.values().map((p) => p.right)).toEqual(['r3', 'r3b', 'r7']);
      expect(out.main.map((m) => m.ts)).toEqual([5, 5, 7]);
    },
    TIMEOUT,
  );

  it(
    'one empty side: emits nothing, buffers expire with the watermark, flush ends cleanly',
    () => {
      const join = new IntervalJoinOperator<number, number, number>({ lowerBoundMs: 0, upperBoundMs: 5 });
      const out = new ArrayCollector<JoinedPair<number, number, number>>();
      for (let i = 0; i < 100; i++) join.process('left', i % 7, i, i, out);
      expect(join.activeKeys).toBe(7);
      join.onWatermark(50);
      expect(join.activeKeys).toBe(7); // records 45..99 can still match
      join.onWatermark(105);
      expect(join.activeKeys).toBe(0);
      join.flush(out);
      expect(out.main).toEqual([]);
      expect(out.sides).toEqual([]);
      const empty = new IntervalJoinOperator<number, number, number>({ lowerBoundMs: 0, upperBoundMs: 5 });
      empty.onWatermark(10);
      empty.flush(out);
      expect(out.main).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'a record behind the watermark goes to LATE_OUTPUT with its side',
    () => {
      const join = new IntervalJoinOperator<string, number, number>({ lowerBoundMs: 0, upperBoundMs: 5 });
      const out = new ArrayCollector<JoinedPair<string, number, number>>();
      join.onWatermark(10);
      join.process('right', 'k', 1, 9, out);
      join.process('left', 'k', 2, 10, out); // ts === watermark is on time
      expect(out.sideValues(LATE_OUTPUT)).toEqual([{ side: 'right', key: 'k', value: 1, ts: 9, watermark: 10 }]);
      join.process('right', 'k', 3, 15, out);
      expect(out.values()).toEqual([{ key: 'k', left: 2, right: 3, leftTs: 10, rightTs: 15 }]);
    },
    TIMEOUT,
  );

  it(
    'MinWatermark: a join advances with its slower input',
    () => {
      const both = new MinWatermark(2);
      expect(both.update(0, 100)).toBe(false);
      expect(both.watermark).toBe(-Infinity);
      expect(both.update(1, 40)).toBe(true);
      expect(both.watermark).toBe(40);
      expect(both.update(1, 30)).toBe(false); // never goes back
      expect(both.update(1, 200)).toBe(true);
      expect(both.watermark).toBe(100);
      expect(() => both.update(2, 1)).toThrow(InvalidArgumentError);
    },
    TIMEOUT,
  );

  it(
    'rejects bad bounds and sides with ERR_INVALID_ARGUMENT',
    () => {
      const bad = [
        () => new IntervalJoinOperator({ lowerBoundMs: 5, upperBoundMs: 1 }),
        () => new IntervalJoinOperator({ lowerBoundMs: NaN, upperBoundMs: 1 }),
        () => new IntervalJoinOperator({ lowerBoundMs: 0, upperBoundMs: Infinity }),
        () => new IntervalJoinOperator({ lowerBoundMs: 0, upperBoundMs: 1 }).process('middle' as 'left', 'k', 1, 1, new ArrayCollector()),
        () => new IntervalJoinOperator({ lowerBoundMs: 0, upperBoundMs: 1 }).process('left', 'k', 1, NaN, new ArrayCollector()),
        () => new MinWatermark(0),
      ];
      for (const fn of bad) {
        expect(fn).toThrow(InvalidArgumentError);
        try {
          fn();
        } catch (e) {
          expect((e as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT');
        }
      }
    },
    TIMEOUT,
  );
});
