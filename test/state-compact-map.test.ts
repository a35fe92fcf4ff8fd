import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey } from '../src/codec/index.js';
import { CompactStringMap } from '../src/state/compact-map.js';

type Op = { kind: 'set'; key: string; value: number } | { kind: 'delete'; key: string } | { kind: 'get'; key: string };

/** Applies the ops to a Map and a CompactStringMap (with `hashOf`) and checks every answer and the final order. */
function agree(ops: Op[], hashOf: (k: string) => number): void {
  const model = new Map<string, number>();
  const map = new CompactStringMap<number>();
  for (const op of ops) {
    const h = hashOf(op.key);
    if (op.kind === 'set') {
      model.set(op.key, op.value);
      map.set(op.key, h, op.value);
    } else if (op.kind === 'delete') {
      expect(map.delete(op.key, h)).toBe(model.delete(op.key));
    } else {
      expect(map.get(op.key, h)).toBe(model.get(op.key));
      expect(map.has(op.key, h)).toBe(model.has(op.key));
    }
    expect(map.size).toBe(model.size);
  }
  expect([...map.entries()]).toEqual([...model.entries()]);
  expect([...map.keys()]).toEqual([...model.keys()]);
}

// Keys from a small alphabet collide often; the wide characters and surrogate pairs take the 2-byte path.
const key = fc.oneof(
  fc.stringMatching(/^[ab]{0,3}$/),
  fc.constantFrom('é', 'ÿ', 'Ā', '中文', '😀', 'a😀', '\u0000', 'x'.repeat(40), 'é'.repeat(5000), '中'.repeat(5000)),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('get' as const), key }),
);

describe('CompactStringMap', () => {
  it('answers as a Map does, in insertion order, with the real hash', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => agree(ops, hashKey)), { numRuns: 300 });
  });

  it('answers as a Map does when every key hashes alike (long probe runs, backward-shift deletes)', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => agree(ops, (k) => hashKey(k) & 3)), { numRuns: 300 });
  });

  it('compacts after mass deletes and keeps order and values', () => {
    const model = new Map<string, number>();
    const map = new CompactStringMap<number>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20_000; i++) {
        const k = `k-${round}-${i}`;
        model.set(k, i);
        map.set(k, hashKey(k), i);
      }
      for (let i = 0; i < 20_000; i += round + 1) {
        const k = `k-${round}-${i}`;
        model.delete(k);
        map.delete(k, hashKey(k));
      }
      // Old rounds' keys are deleted too, so the dead outnumber the live.
      for (const k of [...model.keys()].filter((_, n) => n % 3 === 0)) {
        model.delete(k);
        map.delete(k, hashKey(k));
      }
    }
    expect(map.size).toBe(model.size);
    expect([...map.entries()]).toEqual([...model.entries()]);
    for (const [k, v] of model) expect(map.get(k, hashKey(k))).toBe(v);
    // The dead entries' memory came back: far less than 60 k keys' worth of arena stays held.
    const full = new CompactStringMap<number>();
    for (let i = 0; i < 60_000; i++) full.set(`k-0-${i}`, hashKey(`k-0-${i}`), i);
    expect(map.externalBytes).toBeLessThan(full.externalBytes);
  });

  it('lets an iteration delete what it visits and see what is added behind it, like a Map', () => {
    const model = new Map<string, number>();
    const map = new CompactStringMap<number>();
    for (let i = 0; i < 5_000; i++) {
      model.set(`u${i}`, i);
      map.set(`u${i}`, hashKey(`u${i}`), i);
    }
    const seenModel: string[] = [];
    const seenMap: string[] = [];
    for (const [k, v] of model) {
      seenModel.push(k);
      model.delete(k);
      if (v < 10 && k.startsWith("u")) model.set(`late${v}`, v);
    }
    for (const [k, v] of map) {
      seenMap.push(k);
      map.delete(k, hashKey(k));
      if (v < 10 && k.startsWith("u")) map.set(`late${v}`, hashKey(`late${v}`), v);
    }
    expect(seenMap).toEqual(seenModel);
    expect([...map.entries()]).toEqual([...model.entries()]);
  });

  it('holds 100 k short keys in under 50 bytes each, arrays grown by half and doubling included (a Map of them: ~61)', () => {
    const map = new CompactStringMap<number>();
    for (let i = 0; i < 100_000; i++) map.set(`user-${i}`, hashKey(`user-${i}`), i);
    // Typed arrays plus the values array (8 bytes a slot, grown by half).
    const bytes = map.externalBytes + 100_000 * 8 * 1.5;
    expect(bytes / 100_000).toBeLessThan(50);
  });
});

describe('CompactStringMap limits', () => {
  it('refuses a key past its arena limit with ERR_TABLE_CAPACITY and keeps what it holds', () => {
    const map = new CompactStringMap<number>({ arenaBytes: 1000 });
    let i = 0;
    let error: unknown;
    try {
      for (; i < 1000; i++) map.set(`key-${i}`, hashKey(`key-${i}`), i);
    } catch (e) {
      error = e;
    }
    expect((error as { code?: string }).code).toBe('ERR_TABLE_CAPACITY');
    expect(map.size).toBe(i);
    for (let k = 0; k < i; k++) expect(map.get(`key-${k}`, hashKey(`key-${k}`))).toBe(k);
    expect(map.has(`key-${i}`, hashKey(`key-${i}`))).toBe(false);
  });

  it('refuses an entry past its entry limit', () => {
    const map = new CompactStringMap<number>({ entries: 64 });
    for (let i = 0; i < 64; i++) map.set(`k${i}`, hashKey(`k${i}`), i);
    expect(() => map.set('one-more', hashKey('one-more'), 0)).toThrow(expect.objectContaining({ code: 'ERR_TABLE_CAPACITY' }));
    expect(map.size).toBe(64);
    map.set('k3', hashKey('k3'), 33); // an existing key is still written
    expect(map.get('k3', hashKey('k3'))).toBe(33);
  });
});

describe('CompactStringMap iterations and compaction', () => {
  type Step = Op | { kind: 'next' } | { kind: 'open' };
  const step: fc.Arbitrary<Step> = fc.oneof(op, op, fc.constant({ kind: 'next' as const }), fc.constant({ kind: 'next' as const }), fc.constant({ kind: 'open' as const }));

  it('open iterations see what a Map iteration sees while entries are set, deleted and compacted away under them', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const model = new Map<string, number>();
        const map = new CompactStringMap<number>({ minDeadToCompact: 2 });
        let modelIt: Iterator<[string, number]> | undefined;
        let mapIt: Iterator<[string, number]> | undefined;
        for (const s of steps) {
          if (s.kind === 'open') {
            modelIt = model.entries();
            mapIt = map.entries();
          } else if (s.kind === 'next') {
            if (modelIt && mapIt) expect(mapIt.next()).toEqual(modelIt.next());
          } else if (s.kind === 'set') {
            model.set(s.key, s.value);
            map.set(s.key, hashKey(s.key), s.value);
          } else if (s.kind === 'delete') {
            expect(map.delete(s.key, hashKey(s.key))).toBe(model.delete(s.key));
          } else {
            expect(map.get(s.key, hashKey(s.key))).toBe(model.get(s.key));
          }
        }
        expect([...map.entries()]).toEqual([...model.entries()]);
      }),
      { numRuns: 500 },
    );
  });

  it('an iteration left unfinished does not stop compaction', () => {
    const map = new CompactStringMap<number>();
    for (let i = 0; i < 50_000; i++) map.set(`k${i}`, hashKey(`k${i}`), i);
    const before = map.externalBytes;
    const first = map.entries().next(); // a first entry, the iterator then dropped
    expect(first.value).toEqual(['k0', 0]);
    for (let i = 0; i < 50_000; i += 1) if (i % 10 !== 0) map.delete(`k${i}`, hashKey(`k${i}`));
    expect(map.size).toBe(5_000);
    expect(map.externalBytes).toBeLessThan(before / 4);
    expect([...map.keys()].slice(0, 3)).toEqual(['k0', 'k10', 'k20']);
  });

  it('forEach lets its callback delete and compact', () => {
    const map = new CompactStringMap<number>({ minDeadToCompact: 8 });
    const model = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      map.set(`k${i}`, hashKey(`k${i}`), i);
      model.set(`k${i}`, i);
    }
    const seen: string[] = [];
    map.forEach((v, k) => {
      seen.push(k);
      if (v % 3 !== 0) map.delete(k, hashKey(k));
      if (v % 3 !== 0) model.delete(k);
    });
    expect(seen.length).toBe(1000);
    expect([...map.entries()]).toEqual([...model.entries()]);
  });
});
