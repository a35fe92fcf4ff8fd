import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey } from '../src/codec/index.js';
import {
  InvalidArgumentError,
} from '../src/errors.js';
import {
  DEFAULT_MAX_PARALLELISM,
  StatePartition,
  TableDeclaration,
  TableKeyOwnershipError,
  UnknownTableError,
  WindowCloseHandlerError,
  WindowTimestampError,
  instanceForKey,
  instanceForKeyGroup,
  keyGroupOf,
  keyGroupRange,
  type WindowRange,
} from '../src/state/index.js';

/** The one partition of parallelism 1 (owns every key group). */
function solo(declarations: TableDeclaration<any>[], clock?: () => number) {
  return new StatePartition({ declarations, index: 0, parallelism: 1, clock });
}

describe('key groups', () => {
  it('split 0..maxParallelism into contiguous, disjoint ranges, and instanceForKeyGroup inverts them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 512 }), fc.integer({ min: 1, max: 512 }), (maxParallelism, p) => {
        const parallelism = Math.min(p, maxParallelism);
        let next = 0;
        for (let i = 0; i < parallelism; i++) {
          const r = keyGroupRange(i, parallelism, maxParallelism);
          expect(r.start).toBe(next);
          expect(r.end).toBeGreaterThan(r.start); // every instance owns at least one group
          for (let g = r.start; g < r.end; g++) expect(instanceForKeyGroup(g, parallelism, maxParallelism)).toBe(i);
          next = r.end;
        }
        expect(next).toBe(maxParallelism);
      }),
    );
  });

  it('are the stable hashKey modulo maxParallelism (128 by default), so a key keeps its group across parallelisms', () => {
    expect(DEFAULT_MAX_PARALLELISM).toBe(128);
    expect(keyGroupOf('user-42', 128)).toBe(0x7c2a1196 % 128); // pinned hashKey('user-42')
    expect(keyGroupOf(42, 128)).toBe(keyGroupOf('42', 128));
    for (let i = 0; i < 1000; i++) {
      const key = `k${i}`;
      const group = hashKey(key) % 128;
      for (const parallelism of [1, 2, 3, 7]) {
        const owner = instanceForKey(key, parallelism);
        const r = keyGroupRange(owner, parallelism, 128);
        expect(group >= r.start && group < r.end).toBe(true);
      }
    }
  });

  it('refuse a parallelism above maxParallelism', () => {
    expect(() => keyGroupRange(0, 129, 128)).toThrow(InvalidArgumentError);
    expect(() => new StatePartition({ declarations: [], index: 2, parallelism: 2 })).toThrow(/instance index/);
    expect(() => new StatePartition({ declarations: [], index: 0, parallelism: 1, maxParallelism: 0 })).toThrow(/maxParallelism/);
  });
});

describe('Table', () => {
  it('gets, sets, deletes, updates, with a default factory that is not stored', () => {
    const p = solo([new TableDeclaration('totals', { default: () => 0 })]);
    const t = p.plain<number>('totals');
    expect(t.get('alice')).toBe(0);
    expect(t.has('alice')).toBe(false);
    t.set('alice', 5);
    expect(t.update('alice', (n) => n + 2)).toBe(7);
    expect(t.update('bob', (n) => n + 1)).toBe(1);
    expect(t.get('alice')).toBe(7);
    expect(t.has('alice')).toBe(true);
    expect(t.delete('alice')).toBe(true);
    expect(t.delete('alice')).toBe(false);
    expect(t.get('alice')).toBe(0);
    expect([...t.entries()]).toEqual([['bob', 1]]);
    expect(t.size).toBe(1);
  });

  it('compares keys as keyBy routes them: 42, 42n and "42" are one key', () => {
    const t = solo([new TableDeclaration('t')]).plain<string>('t');
    t.set(42, 'a');
    expect(t.get('42')).toBe('a');
    expect(t.get(42n)).toBe('a');
    expect(t.get('nope')).toBeUndefined();
    expect(() => t.set({} as never, 'x')).toThrow(/record key must be/);
  });

  it('keeps undefined and falsy values as values (not as "no value")', () => {
    const t = solo([new TableDeclaration<number | undefined>('t', { default: () => 9 })]).plain<number | undefined>('t');
    t.set('a', 0);
    t.set('b', undefined);
    expect(t.get('a')).toBe(0);
    expect(t.get('b')).toBeUndefined();
    expect(t.update('b', (v) => (v === undefined ? -1 : v))).toBe(-1);
  });

  it('throws TableKeyOwnershipError when writing a key another instance owns, and reads nothing for it', () => {
    const declarations = [new TableDeclaration('t', { default: () => 0 })];
    const parts = [0, 1, 2].map((index) => new StatePartition({ declarations, index, parallelism: 3 }));
    for (let i = 0; i < 300; i++) {
      const key = `user-${i}`;
      const owner = instanceForKey(key, 3);
      for (const p of parts) {
        const t = p.plain<number>('t');
        if (p.index === owner) {
          expect(p.ownsKey(key)).toBe(true);
          t.update(key, (n) => n + 1);
        } else {
          expect(p.ownsKey(key)).toBe(false);
          for (const write of [() => t.set(key, 1), () => t.update(key, (n) => n), () => t.delete(key)]) {
            const error = (() => {
              try {
                write();
              } catch (e) {
                return e;
              }
            })() as TableKeyOwnershipError;
            expect(error).toBeInstanceOf(TableKeyOwnershipError);
            expect(error.code).toBe('ERR_TABLE_KEY_OWNERSHIP');
            expect(error.keyGroup).toBe(keyGroupOf(key, 128));
          }
        }
      }
    }
    expect(parts.reduce((n, p) => n + p.plain('t').size, 0)).toBe(300);
  });

  it('records which keys changed per checkpoint epoch (a dirty set), and a full snapshot has everything', () => {
    const p = solo([new TableDeclaration('t', { default: () => 0 })]);
    const t = p.plain<number>('t');
    for (let i = 0; i < 100; i++) t.set(`k${i}`, i);
    const first = p.takeChanges(1, false);
    const count = (c: typeof first, what: 'putKeys' | 'deleteKeys') => c.tables[0]!.groups.reduce((n, g) => n + g[what].length, 0);
    expect(count(first, 'putKeys')).toBe(100);
    expect(t.dirtyCount).toBe(0);
    t.update('k1', (n) => n + 1);
    t.delete('k2');
    t.set('k2', 7);
    t.delete('k3');
    const second = p.takeChanges(2, false);
    expect(count(second, 'putKeys')).toBe(2); // k1, k2
    expect(count(second, 'deleteKeys')).toBe(1); // k3
    for (const g of second.tables[0]!.groups) for (const k of [...g.putKeys, ...g.deleteKeys]) expect(keyGroupOf(k, 128)).toBe(g.keyGroup);
    expect(count(p.takeChanges(3, false), 'putKeys')).toBe(0);
    expect(count(p.takeChanges(4, true), 'putKeys')).toBe(99);
  });

  it('lists exactly the keys changed in an interval, however many (a bit on each entry); a delta applied after it gives the same table', () => {
    const decl = [new TableDeclaration('t', { default: () => 0 })];
    const p = solo(decl);
    const t = p.plain<number>('t');
    for (let i = 0; i < 10_000; i++) t.set(`k${i}`, i);
    const base = p.takeChanges(1, false);
    const mirror = solo(decl);
    mirror.load(base);
    // Most keys written again, a few deleted (one deleted and set again).
    for (let i = 0; i < 8000; i++) t.update(`k${i}`, (n) => n + 1);
    for (let i = 9000; i < 9100; i++) t.delete(`k${i}`);
    t.delete('k5');
    t.set('k5', -5);
    expect(t.dirtyCount).toBe(8000 + 100 + 1); // the writes, the deletes, and k5's new entry after its delete
    const delta = p.takeChanges(2, false);
    mirror.load(delta);
    expect(new Map(mirror.plain<number>('t').entries())).toEqual(new Map(t.entries()));
    expect(mirror.plain<number>('t').size).toBe(9900);
    // The next interval lists its few keys again.
    t.set('k1', 0);
    t.delete('k2');
    expect(t.dirtyCount).toBe(2);
    mirror.load(p.takeChanges(3, false));
    expect(new Map(mirror.plain<number>('t').entries())).toEqual(new Map(t.entries()));
  });

  it('is reached by name; an unknown name and bad declarations are coded errors', () => {
    const p = solo([new TableDeclaration('a')]);
    expect(() => p.table('b')).toThrow(UnknownTableError);
    expect(() => new TableDeclaration('bad name')).toThrow(InvalidArgumentError);
    expect(() => new TableDeclaration('x', { defualt: () => 0 } as never)).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_OPTION', message: expect.stringMatching(/unknown option 'defualt' \(valid: default\)/) }));
    expect(() => new TableDeclaration('x').tumbling(0)).toThrow(/sizeMs/);
    expect(() => new TableDeclaration('x').hopping(10, 20)).toThrow(/stepMs/);
    expect(() => new TableDeclaration('x').tumbling(10, { expires: 5 } as never)).toThrow(/\(valid: expiresMs\)/);
    expect(() => solo([new TableDeclaration('a'), new TableDeclaration('a')])).toThrow(/declared twice/);
    expect(() => p.windowed('a')).toThrow(/not windowed/);
  });
});

describe('WindowedTable', () => {
  const per10 = () => new TableDeclaration<number>('w', { default: () => 0 });

  it('tumbling: a record updates the one window its time falls in; current/value/delta pick windows by time', () => {
    const p = solo([per10().tumbling(10, { expiresMs: 100 })]);
    const w = p.windowed<number>('w');
    for (const ts of [1, 5, 9, 10, 12, 25]) {
      p.beginRecord({ ts }, ts);
      w.update('k', (n) => n + 1);
    }
    p.beginRecord({ ts: 26 }, 26);
    expect(w.get('k').current()).toBe(1); // window [20, 30)
    expect(w.get('k').value(3)).toBe(3); // [0, 10)
    expect(w.get('k').value(15)).toBe(2); // [10, 20)
    expect(w.get('k').delta(10)).toBe(2); // 16 → [10, 20)
    expect(w.get('k').delta(20)).toBe(3);
    expect(w.get('other').current()).toBe(0); // the default
    expect(w.has('k')).toBe(true);
    expect(w.windowCount).toBe(3);
    expect([...w.entries()]).toEqual([['k', 1]]);
    p.endRecord();
    // Outside a record: table time (26).
    expect(w.get('k').current()).toBe(1);
  });

  it('hopping: a record lands in size/step windows; a read picks the newest one holding the time', () => {
    const p = solo([per10().hopping(30, 10, { expiresMs: 1000 })]);
    const w = p.windowed<number>('w');
    expect(w.windowStarts(25)).toEqual([20, 10, 0]);
    expect(w.windowStarts(-5)).toEqual([-10, -20, -30]);
    p.beginRecord(null, 25);
    w.update('k', (n) => n + 1);
    p.beginRecord(null, 31);
    w.update('k', (n) => n + 10); // windows 30, 20, 10
    const cells = [...w.windows()].map((c) => [c.window.start, c.value]);
    expect(cells).toEqual([
      [0, 1],
      [10, 11],
      [20, 11],
      [30, 10],
    ]);
    expect(w.get('k').value(25)).toBe(11); // newest window holding 25 is [20, 50)
    expect(w.get('k').value(5)).toBe(1);
  });

  it('relativeTo: stream time, a field of the record, or the wall clock', () => {
    let now = 1_000;
    const p = solo([per10().tumbling(10, { expiresMs: 1_000_000 })], () => now);
    const w = p.windowed<number>('w');
    p.beginRecord({ at: 55 }, 3);
    w.update('k', (n) => n + 1); // stream: window 0
    w.relativeTo((r: { at: number }) => r.at).update('k', (n) => n + 100); // window 50
    w.relativeTo('now').update('k', (n) => n + 10_000); // window 1000
    expect(w.get('k').current()).toBe(1);
    expect(w.relativeTo((r: { at: number }) => r.at).get('k').current()).toBe(100);
    expect(w.get('k').now()).toBe(10_000);
    now = 1_015;
    expect(w.get('k').now()).toBe(0);
    expect(() => w.relativeTo(() => Number.NaN).update('k', (n) => n)).toThrow(WindowTimestampError);
    expect(() => w.relativeTo(7 as never)).toThrow(WindowTimestampError);
    p.endRecord();
    const fresh = solo([per10().tumbling(10)]).windowed<number>('w');
    expect(() => fresh.update('k', (n) => n)).toThrow(/no record is being processed/);
  });

  it('closes a window when table time passes its end plus expiresMs: onWindowClose runs, the window is dropped, late writes too', () => {
    const p = solo([per10().tumbling(10, { expiresMs: 20 })]);
    const w = p.windowed<number>('w');
    const closed: Array<[string, number, WindowRange]> = [];
    w.onWindowClose((key, value, window) => closed.push([key, value, window]));
    p.beginRecord(null, 5);
    w.update('a', (n) => n + 1);
    w.update('b', (n) => n + 2);
    p.beginRecord(null, 29); // window [0, 10) closes at 30
    w.update('a', (n) => n + 1);
    expect(closed).toEqual([]);
    p.beginRecord(null, 30);
    w.update('a', (n) => n + 1);
    expect(closed).toEqual([
      ['a', 1, { start: 0, end: 10 }],
      ['b', 2, { start: 0, end: 10 }],
    ]);
    expect(w.get('a').value(5)).toBe(0); // gone
    p.beginRecord(null, 7); // late: its window closed
    w.update('a', (n) => n + 1);
    expect(w.lateWrites).toBe(1);
    expect(w.get('a').value(7)).toBe(0);
    p.advanceTime(1000);
    expect(w.windowCount).toBe(0);
    expect(closed.map((c) => c[2].start)).toEqual([0, 0, 20, 30]);
  });

  it('memory is bounded: a long run keeps only the windows not yet expired', () => {
    const p = solo([per10().hopping(100, 20, { expiresMs: 200 })]);
    const w = p.windowed<number>('w');
    let maxWindows = 0;
    for (let ts = 0; ts < 100_000; ts += 7) {
      p.beginRecord(null, ts);
      w.update(`k${ts % 50}`, (n) => n + 1);
      maxWindows = Math.max(maxWindows, w.windowCount);
    }
    expect(maxWindows).toBeLessThanOrEqual(16); // (size + expires) / step + 1
  });

  it('a throwing onWindowClose handler is reported with a coded error; the window still closes and the write still lands', () => {
    const p = solo([per10().tumbling(10, { expiresMs: 0 })]);
    const w = p.windowed<number>('w');
    w.onWindowClose(() => {
      throw new Error('boom');
    });
    p.beginRecord(null, 1);
    w.update('a', (n) => n + 1);
    p.beginRecord(null, 15);
    expect(() => w.update('a', (n) => n + 5)).toThrow(WindowCloseHandlerError);
    expect(w.windowCount).toBe(1);
    expect(w.get('a').current()).toBe(5);
  });

  it('records closed windows as deletes at the next checkpoint', () => {
    const p = solo([per10().tumbling(10, { expiresMs: 0 })]);
    const w = p.windowed<number>('w');
    p.beginRecord(null, 1);
    w.update('a', (n) => n + 1);
    p.takeChanges(1, false);
    p.beginRecord(null, 12);
    w.update('a', (n) => n + 1);
    const changes = p.takeChanges(2, false).tables[0]!;
    expect(changes.time).toBe(12);
    const g = changes.groups[0]!;
    expect([g.putKeys, g.putWindows, g.deleteKeys, g.deleteWindows]).toEqual([['a'], [10], ['a'], [0]]);
  });
});

describe('tables without a store (trackChanges: false)', () => {
  /** Writes `windows` tumbling windows of 100 keys each (expiring after 5 windows), plus plain writes and deletes. */
  function churn(trackChanges: boolean) {
    const p = new StatePartition({
      declarations: [new TableDeclaration<number>('w', { default: () => 0 }).tumbling(10, { expiresMs: 50 }), new TableDeclaration<number>('t', { default: () => 0 })],
      index: 0,
      parallelism: 1,
      trackChanges,
    });
    const w = p.windowed<number>('w');
    const t = p.plain<number>('t');
    for (let window = 0; window < 300; window++) {
      for (let k = 0; k < 100; k++) {
        const ts = window * 10 + (k % 10);
        p.beginRecord(null, ts);
        w.update(`k${k}`, (n) => n + 1);
        t.update(`k${window}-${k}`, (n) => n + 1);
        if (k % 2 === 0) t.delete(`k${window}-${k}`);
        p.endRecord();
      }
    }
    return { p, w, t };
  }

  it('remember nothing for checkpoints, however many windows come and go, and still give every entry', () => {
    const { p, w, t } = churn(false);
    expect(w.dirtyCount).toBe(0);
    expect(t.dirtyCount).toBe(0);
    expect(w.windowCount).toBeLessThanOrEqual(7);
    const changes = p.takeChanges(1, false);
    const puts = (name: string) => changes.tables.find((c) => c.table === name)!.groups.reduce((n, g) => n + g.putKeys.length, 0);
    const deletes = (name: string) => changes.tables.find((c) => c.table === name)!.groups.reduce((n, g) => n + g.deleteKeys.length, 0);
    expect(puts('w')).toBe(w.entryCount);
    expect(puts('t')).toBe(t.size);
    expect(deletes('w') + deletes('t')).toBe(0);
  });

  it('with a store (the default) they do remember, which a checkpoint then clears', () => {
    const { p, w } = churn(true);
    // Every (key, window) written since the start, closed windows included: 300 windows × 100 keys.
    expect(w.dirtyCount).toBe(30_000);
    p.takeChanges(1, false);
    expect(w.dirtyCount).toBe(0);
  });
});

describe('checkpoint deltas (takeChanges) replayed onto a mirror', () => {
  type TableOp = { kind: 'set' | 'delete' | 'bump'; key: string; value: number } | { kind: 'checkpoint' } | { kind: 'time'; by: number };
  const tableOp: fc.Arbitrary<TableOp> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom('set' as const, 'delete' as const, 'bump' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'é', '中'), value: fc.integer({ min: 0, max: 99 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('time' as const), by: fc.integer({ min: 1, max: 25 }) }) },
  );

  it('a mirror that loads every delta equals the table at each checkpoint (plain and windowed, windows closing)', () => {
    fc.assert(
      fc.property(fc.array(tableOp, { maxLength: 200 }), (ops) => {
        const decl = () => [new TableDeclaration<number>('t', { default: () => 0 }), new TableDeclaration<number>('w', { default: () => 0 }).tumbling(10, { expiresMs: 15 })];
        const p = new StatePartition({ declarations: decl(), index: 0, parallelism: 1 });
        const mirror = new StatePartition({ declarations: decl(), index: 0, parallelism: 1 });
        const t = p.plain<number>('t');
        const w = p.windowed<number>('w');
        let now = 0;
        let id = 0;
        const check = () => {
          mirror.load(p.takeChanges(++id, false));
          expect(new Map(mirror.plain<number>('t').entries())).toEqual(new Map(t.entries()));
          const windowed = (part: StatePartition) => [...part.windowed<number>('w').windowEntries()].map(([k, v, r]) => `${r.start}/${k}=${v}`).sort();
          expect(windowed(mirror)).toEqual(windowed(p));
          expect(t.dirtyCount).toBe(0);
          expect(w.dirtyCount).toBe(0);
        };
        for (const op of ops) {
          if (op.kind === 'checkpoint') check();
          else if (op.kind === 'time') {
            now += op.by;
            p.advanceTime(now);
          } else {
            p.beginRecord(null, now);
            if (op.kind === 'set') {
              t.set(op.key, op.value);
              w.set(op.key, op.value);
            } else if (op.kind === 'delete') {
              t.delete(op.key);
              w.delete(op.key);
            } else {
              t.update(op.key, (n) => n + op.value);
              w.update(op.key, (n) => n + op.value);
            }
            p.endRecord();
          }
        }
        check();
      }),
      { numRuns: 400 },
    );
  });
});
