import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ArrayCollector,
  CountWindowOperator,
  InvalidArgumentError,
  LATE_OUTPUT,
  SessionWindowOperator,
  SlidingTimeWindowOperator,
  WatermarkTracker,
  reducer,
  windowOperator,
  type Aggregator,
  type Collector,
  type CountWindowResult,
  type LateRecord,
  type OutputTag,
  type TimeWindowResult,
  type Window,
} from '../src/stream/operators/index.js';

const TIMEOUT = 20_000;

/** Collects values into a list, never mutating an emitted list (add copies). */
const listOf: Aggregator<number, readonly number[], readonly number[]> = {
  createAccumulator: () => [],
  add: (acc, v) => [...acc, v],
  getResult: (acc) => acc,
  merge: (a, b) => [...a, ...b],
};

const sum = reducer((a: number, b: number) => a + b);

type Op =
  | { kind: 'record'; key: number; ts: number; value: number }
  | { kind: 'watermark'; to: number };

/** Records (value = position, so values are unique) with random watermark steps in between. */
const opsArb = (maxTs: number) =>
  fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: fc.record({ kind: fc.constant('record' as const), key: fc.integer({ min: 0, max: 2 }), ts: fc.integer({ min: 0, max: maxTs }), value: fc.constant(0) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('watermark' as const), to: fc.integer({ min: 0, max: maxTs + 20 }) }) },
      ),
      { maxLength: 60 },
    )
    .map((ops) => ops.map((op, i) => (op.kind === 'record' ? { ...op, value: i } : op)));

/** Drives a keyed core through ops, noting the watermark at each emission. */
interface Emitted<T> {
  value: T;
  ts: number;
  watermark: number;
  duringFlush: boolean;
}
function drive<T>(
  core: { process(k: number, v: number, ts: number, out: Collector<T>): void; onWatermark(w: number, out: Collector<T>): void; flush(out: Collector<T>): void },
  ops: Op[],
) {
  const emitted: Emitted<T>[] = [];
  const late: LateRecord<number, number>[] = [];
  let watermark = -Infinity;
  let duringFlush = false;
  const out: Collector<T> = {
    collect: (value, ts) => emitted.push({ value, ts, watermark, duringFlush }),
    side: <S>(tag: OutputTag<S>, value: S) => {
      expect(tag).toBe(LATE_OUTPUT);
      late.push(value as LateRecord<number, number>);
    },
  };
  for (const op of ops) {
    if (op.kind === 'record') core.process(op.key, op.value, op.ts, out);
    else {
      watermark = Math.max(watermark, op.to);
      core.onWatermark(op.to, out);
    }
  }
  duringFlush = true;
  core.flush(out);
  return { emitted, late };
}

const windowId = (key: number, w: Window) => `${key}|${w.start}|${w.end}`;

describe('tumbling and sliding time windows (event time)', () => {
  /** Brute force: which windows each record lands in, given the watermark when it arrives. */
  function reference(ops: Op[], size: number, slide: number, lateness: number) {
    const windows = new Map<string, number[]>();
    const late: number[] = [];
    let watermark = -Infinity;
    for (const op of ops) {
      if (op.kind === 'watermark') {
        watermark = Math.max(watermark, op.to);
        continue;
      }
      let accepted = false;
      let windowCount = 0;
      for (let start = Math.floor(op.ts / slide) * slide; start > op.ts - size; start -= slide) {
        windowCount++;
        if (start + size + lateness <= watermark) continue;
        accepted = true;
        const id = windowId(op.key, { start, end: start + size });
        windows.set(id, [...(windows.get(id) ?? []), op.value]);
      }
      if (!accepted && windowCount > 0) late.push(op.value); // in no window at all: a gap (slide > size)
    }
    return { windows, late };
  }

  it(
    'final result per (key, window) equals brute force; late records all reach the side output',
    () => {
      fc.assert(
        fc.property(
          opsArb(100),
          fc.integer({ min: 1, max: 30 }),
          fc.integer({ min: 1, max: 30 }),
          fc.constantFrom(0, 0, 5, 17),
          fc.boolean(),
          (ops, size, slideRaw, lateness, tumbling) => {
            const slide = tumbling ? size : slideRaw;
            const core = new SlidingTimeWindowOperator<number, number, readonly number[], readonly number[]>(
              { sizeMs: size, slideMs: slide, allowedLatenessMs: lateness },
              listOf,
            );
            const { emitted, late } = drive<TimeWindowResult<number, readonly number[]>>(core, ops);
            const expected = reference(ops, size, slide, lateness);

            const final = new Map<string, readonly number[]>();
            const seen = new Set<string>();
            for (const e of emitted) {
              const r = e.value;
              const id = windowId(r.key, r.window);
              // Fires only once complete (or at end of input), stamped at its last millisecond.
              expect(e.duringFlush || e.watermark >= r.window.end).toBe(true);
              expect(e.ts).toBe(r.window.end - 1);
              expect(r.updated).toBe(seen.has(id));
              expect(r.supersedes).toEqual([]);
              seen.add(id);
              final.set(id, r.value);
            }
            expect(Object.fromEntries(final)).toEqual(Object.fromEntries(expected.windows));
            expect(late.map((l) => l.value)).toEqual(expected.late);
            for (const l of late) expect(l.watermark).toBeGreaterThan(l.ts);
          },
        ),
        { numRuns: 300 },
      );
    },
    TIMEOUT,
  );

  it(
    'driven by a WatermarkTracker: every record counted exactly once when out-of-orderness covers the disorder',
    () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 200 })), { maxLength: 80 }), (records) => {
          const ooo = 200; // covers any disorder in [0, 200]: nothing is late
          const tracker = new WatermarkTracker(ooo);
          const core = windowOperator<number, number, number | symbol, number>({ tumbling: 10 }, sum);
          const out = new ArrayCollector<TimeWindowResult<number, number>>();
          for (const [key, ts] of records) {
            core.process(key, 1, ts, out);
            if (tracker.observe(ts)) core.onWatermark(tracker.watermark, out);
          }
          core.flush(out);
          expect(out.sides).toEqual([]);
          const total = out.values().reduce((n, r) => n + r.value, 0);
          expect(total).toBe(records.length);
          expect(out.values().every((r) => !r.updated)).toBe(true);
        }),
        { numRuns: 200 },
      );
    },
    TIMEOUT,
  );

  it(
    'fires on time, re-fires within lateness (updated), side-outputs beyond it',
    () => {
      const core = new SlidingTimeWindowOperator<string, number, number | symbol, number>({ sizeMs: 10, allowedLatenessMs: 5 }, sum);
      const out = new ArrayCollector<TimeWindowResult<string, number>>();
      core.process('a', 1, 1, out);
      core.process('a', 2, 9, out);
      core.process('b', 7, 3, out);
      core.onWatermark(9, out);
      expect(out.main).toEqual([]); // [0, 10) not complete until watermark 10
      core.onWatermark(10, out);
      expect(out.values()).toEqual([
        { key: 'a', window: { start: 0, end: 10 }, value: 3, updated: false, supersedes: [] },
        { key: 'b', window: { start: 0, end: 10 }, value: 7, updated: false, supersedes: [] },
      ]);
      expect(out.main.map((m) => m.ts)).toEqual([9, 9]);
      out.clear();
      core.process('a', 4, 5, out); // late, but within lateness: update and re-fire at once
      expect(out.values()).toEqual([{ key: 'a', window: { start: 0, end: 10 }, value: 7, updated: true, supersedes: [] }]);
      out.clear();
      core.onWatermark(15, out); // window [0, 10) expires
      core.process('a', 100, 2, out);
      expect(out.main).toEqual([]);
      expect(out.sideValues(LATE_OUTPUT)).toEqual([{ key: 'a', value: 100, ts: 2, watermark: 15 }]);
      core.process('a', 1, 12, out);
      core.flush(out);
      expect(out.values()).toEqual([{ key: 'a', window: { start: 10, end: 20 }, value: 1, updated: false, supersedes: [] }]);
    },
    TIMEOUT,
  );

  it(
    'sliding windows put a record in size/slide windows, aligned to 0 (negative times too)',
    () => {
      const core = windowOperator<string, number, readonly number[], readonly number[]>({ sliding: 10, slide: 5 }, listOf);
      const out = new ArrayCollector<TimeWindowResult<string, readonly number[]>>();
      core.process('k', 1, 7, out);
      core.process('k', 2, -3, out);
      core.flush(out);
      const windows = out.values().map((r) => [r.window.start, r.window.end, r.value]);
      expect(windows).toEqual([
        [-10, 0, [2]],
        [-5, 5, [2]],
        [0, 10, [1]],
        [5, 15, [1]],
      ]);
    },
    TIMEOUT,
  );

  it(
    'processing time: a record behind the clock lands in the current window, never late',
    () => {
      const core = windowOperator<string, number, number | symbol, number>({ tumbling: 100, on: 'processingTime' }, sum);
      const out = new ArrayCollector<TimeWindowResult<string, number>>();
      core.process('k', 1, 1_000, out);
      core.onWatermark(1_100, out);
      expect(out.values()).toEqual([{ key: 'k', window: { start: 1_000, end: 1_100 }, value: 1, updated: false, supersedes: [] }]);
      out.clear();
      core.process('k', 5, 1_050, out); // arrival stamp from a clock that stepped back
      core.onWatermark(1_200, out);
      expect(out.sides).toEqual([]);
      expect(out.values()).toEqual([{ key: 'k', window: { start: 1_100, end: 1_200 }, value: 5, updated: false, supersedes: [] }]);
    },
    TIMEOUT,
  );
});

describe('window state is bounded by the watermark', () => {
  it(
    'keys drop out once the watermark passes their windows plus lateness (and for sessions, plus the gap)',
    () => {
      const sliding = new SlidingTimeWindowOperator<number, number, number | symbol, number>({ sizeMs: 10, slideMs: 5, allowedLatenessMs: 7 }, sum);
      const session = new SessionWindowOperator<number, number, number | symbol, number>({ gapMs: 10, allowedLatenessMs: 7 }, sum);
      const out = new ArrayCollector<TimeWindowResult<number, number>>();
      for (let i = 0; i < 50; i++) {
        sliding.process(i % 5, 1, i, out);
        session.process(i % 5, 1, i, out);
      }
      // Every key's last record (45..49) is in [45, 55), kept until 55 + lateness.
      sliding.onWatermark(55 + 7 - 1, out);
      expect(sliding.activeKeys).toBe(5);
      sliding.onWatermark(55 + 7, out);
      expect(sliding.activeKeys).toBe(0);
      // Key k's records are 5 apart, one session [k, 45 + k + gap), kept until end + gap + lateness.
      session.onWatermark(59 + 10 + 7 - 1, out);
      expect(session.activeKeys).toBe(1); // key 4, whose session ends last
      session.onWatermark(59 + 10 + 7, out);
      expect(session.activeKeys).toBe(0);
      expect(out.values().filter((r) => r.window.end === 59).length).toBe(1); // key 4's session [4, 59)
    },
    TIMEOUT,
  );
});

describe('session windows', () => {
  /** Brute force: accepted records (own window within lateness on arrival) grouped by gaps. */
  function reference(ops: Op[], gap: number, lateness: number) {
    const accepted = new Map<number, { ts: number; value: number }[]>();
    const late: number[] = [];
    let watermark = -Infinity;
    for (const op of ops) {
      if (op.kind === 'watermark') {
        watermark = Math.max(watermark, op.to);
      } else if (op.ts + gap + lateness <= watermark) {
        late.push(op.value);
      } else {
        accepted.set(op.key, [...(accepted.get(op.key) ?? []), { ts: op.ts, value: op.value }]);
      }
    }
    const sessions = new Map<string, number[]>();
    for (const [key, records] of accepted) {
      const sorted = [...records].sort((a, b) => a.ts - b.ts);
      let group: typeof sorted = [];
      const close = () => {
        const id = windowId(key, { start: group[0]!.ts, end: group[group.length - 1]!.ts + gap });
        sessions.set(id, group.map((r) => r.value).sort((a, b) => a - b));
      };
      for (const r of sorted) {
        if (group.length > 0 && r.ts - group[group.length - 1]!.ts >= gap) {
          close();
          group = [];
        }
        group.push(r);
      }
      if (group.length > 0) close();
    }
    return { sessions, late };
  }

  it(
    'upserting the results (dropping superseded windows) gives the brute-force sessions',
    () => {
      fc.assert(
        fc.property(opsArb(100), fc.integer({ min: 1, max: 25 }), fc.constantFrom(0, 0, 4, 15), (ops, gap, lateness) => {
          const core = new SessionWindowOperator<number, number, readonly number[], readonly number[]>({ gapMs: gap, allowedLatenessMs: lateness }, listOf);
          const { emitted, late } = drive<TimeWindowResult<number, readonly number[]>>(core, ops);
          const expected = reference(ops, gap, lateness);
          const final = new Map<string, number[]>();
          const seen = new Set<string>();
          for (const e of emitted) {
            const r = e.value;
            const id = windowId(r.key, r.window);
            expect(e.duringFlush || e.watermark >= r.window.end).toBe(true);
            expect(e.ts).toBe(r.window.end - 1);
            expect(r.updated).toBe(seen.has(id));
            for (const w of r.supersedes) {
              const gone = windowId(r.key, w);
              expect(final.has(gone)).toBe(true);
              final.delete(gone);
            }
            seen.add(id);
            final.set(id, [...r.value].sort((a, b) => a - b));
          }
          expect(Object.fromEntries(final)).toEqual(Object.fromEntries(expected.sessions));
          expect(late.map((l) => l.value)).toEqual(expected.late);
        }),
        { numRuns: 300 },
      );
    },
    TIMEOUT,
  );

  it(
    'a record that bridges two fired sessions merges them and supersedes both',
    () => {
      const core = windowOperator<string, number, number | symbol, number>({ session: 10, allowedLatenessMs: 100 }, sum);
      const out = new ArrayCollector<TimeWindowResult<string, number>>();
      core.process('u', 1, 0, out);
      core.process('u', 2, 5, out); // same session: [0, 15)
      core.process('u', 4, 30, out); // 25 after the last record: a new session [30, 40)
      core.onWatermark(50, out);
      expect(out.values().map((r) => [r.window, r.value])).toEqual([
        [{ start: 0, end: 15 }, 3],
        [{ start: 30, end: 40 }, 4],
      ]);
      out.clear();
      core.process('u', 8, 22, out); // 17 after 5 but 8 before 30: joins the second session only
      core.process('u', 16, 13, out); // 8 after 5 and 9 before 22: bridges both
      expect(out.values()).toEqual([
        { key: 'u', window: { start: 22, end: 40 }, value: 12, updated: false, supersedes: [{ start: 30, end: 40 }] },
        {
          key: 'u',
          window: { start: 0, end: 40 },
          value: 31,
          updated: false,
          supersedes: [
            { start: 0, end: 15 },
            { start: 22, end: 40 },
          ],
        },
      ]);
    },
    TIMEOUT,
  );

  it(
    'records exactly gap apart start a new session',
    () => {
      const core = windowOperator<string, number, number | symbol, number>({ session: 10 }, sum);
      const out = new ArrayCollector<TimeWindowResult<string, number>>();
      core.process('k', 1, 0, out);
      core.process('k', 1, 9, out);
      core.process('k', 1, 19, out);
      core.flush(out);
      expect(out.values().map((r) => [r.window.start, r.window.end, r.value])).toEqual([
        [0, 19, 2],
        [19, 29, 1],
      ]);
    },
    TIMEOUT,
  );
});

describe('count windows', () => {
  function reference(ops: Op[], size: number, slide: number) {
    const byKey = new Map<number, number[]>();
    for (const op of ops) if (op.kind === 'record') byKey.set(op.key, [...(byKey.get(op.key) ?? []), op.value]);
    const expected = new Map<number, { window: Window; value: number[]; partial: boolean }[]>();
    for (const [key, values] of byKey) {
      const windows = [];
      for (let start = 0; start < values.length; start += slide) {
        const end = Math.min(start + size, values.length);
        windows.push({ window: { start, end }, value: values.slice(start, end), partial: end - start < size });
      }
      expected.set(key, windows);
    }
    return expected;
  }

  it(
    'tumbling and sliding count windows equal brute force, partial windows flushed at end',
    () => {
      fc.assert(
        fc.property(opsArb(100), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 9 }), (ops, size, slide) => {
          const core = new CountWindowOperator<number, number, readonly number[], readonly number[]>({ size, slide }, listOf);
          const { emitted, late } = drive<CountWindowResult<number, readonly number[]>>(core, ops);
          expect(late).toEqual([]);
          const got = new Map<number, { window: Window; value: readonly number[]; partial: boolean }[]>();
          for (const e of emitted) {
            const { key, window, value, partial } = e.value;
            expect(partial).toBe(e.duringFlush);
            got.set(key, [...(got.get(key) ?? []), { window, value, partial }]);
          }
          expect(Object.fromEntries(got)).toEqual(Object.fromEntries(reference(ops, size, slide)));
        }),
        { numRuns: 300 },
      );
    },
    TIMEOUT,
  );

  it(
    'emits a full window with the ts of the record that filled it; reduce and aggregate',
    () => {
      const core = windowOperator<string, number, number | symbol, number>({ count: 2 }, sum);
      const out = new ArrayCollector<CountWindowResult<string, number>>();
      core.process('a', 1, 100, out);
      core.process('a', 2, 101, out);
      core.process('a', 3, 102, out);
      expect(out.main).toEqual([{ value: { key: 'a', window: { start: 0, end: 2 }, value: 3, partial: false }, ts: 101 }]);
      core.flush(out);
      expect(out.main[1]).toEqual({ value: { key: 'a', window: { start: 2, end: 3 }, value: 3, partial: true }, ts: 102 });
      const average = windowOperator<string, number, { n: number; total: number }, number>(
        { count: 3, slide: 1 },
        { createAccumulator: () => ({ n: 0, total: 0 }), add: (a, v) => ({ n: a.n + 1, total: a.total + v }), getResult: (a) => a.total / a.n },
      );
      const avgOut = new ArrayCollector<CountWindowResult<string, number>>();
      for (const v of [3, 6, 9, 12]) average.process('x', v, 0, avgOut);
      expect(avgOut.values().map((r) => r.value)).toEqual([6, 9]);
    },
    TIMEOUT,
  );
});

describe('window argument checks', () => {
  const expectInvalid = (fn: () => unknown) => {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT');
  };

  it(
    'rejects bad sizes, slides, lateness and specs with ERR_INVALID_ARGUMENT',
    () => {
      for (const size of [0, -1, 1.5, NaN, Infinity]) {
        expectInvalid(() => windowOperator({ count: size }, sum));
        expectInvalid(() => windowOperator({ count: 2, slide: size }, sum));
      }
      for (const size of [0, -5, NaN, Infinity]) {
        expectInvalid(() => windowOperator({ tumbling: size }, sum));
        expectInvalid(() => windowOperator({ sliding: 10, slide: size }, sum));
        expectInvalid(() => windowOperator({ session: size }, sum));
      }
      expectInvalid(() => windowOperator({ tumbling: 10, allowedLatenessMs: -1 }, sum));
      expectInvalid(() => windowOperator({ tumbling: 10, on: 'processingTime', allowedLatenessMs: 5 }, sum));
      expectInvalid(() => windowOperator({ tumbling: 10, on: 'wallClock' as 'eventTime' }, sum));
      expectInvalid(() => windowOperator({ tumbling: 10, session: 5 } as unknown as { tumbling: number }, sum));
      expectInvalid(() => windowOperator({} as { tumbling: number }, sum));
      expectInvalid(() => windowOperator({ sliding: 10 } as { sliding: number; slide: number }, sum));
      const noMerge: Aggregator<number, number, number> = { createAccumulator: () => 0, add: (a, v) => a + v, getResult: (a) => a };
      expectInvalid(() => windowOperator({ session: 10 }, noMerge));
      expect(() => windowOperator({ tumbling: 10 }, noMerge)).not.toThrow();
      expectInvalid(() => new WatermarkTracker(-1));
    },
    TIMEOUT,
  );

  it(
    'rejects a non-finite record timestamp',
    () => {
      const core = windowOperator<string, number, number | symbol, number>({ tumbling: 10 }, sum);
      expectInvalid(() => core.process('k', 1, NaN, new ArrayCollector()));
    },
    TIMEOUT,
  );
});
