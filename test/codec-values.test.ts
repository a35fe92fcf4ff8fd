import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasProtoKey, withoutNegativeZero } from './helpers/values.js';
import { packedValueBatchSize, ValueBatchBuilder, ValueBatchReader, writePackedValueBatch } from '../src/codec/index.js';
import { decodeValue, encodeValue, packValue, packValues, unpackValue } from '../src/codec/values/index.js';
import { packAsciiStrings, StringSpansBuilder, unpackAsciiStrings } from '../src/codec/values/ascii-strings.js';


const cloneable = fc
  .anything({ maxDepth: 3, maxKeys: 5, withMap: true, withSet: true, withDate: true, withBigInt: true, withTypedArray: true, withBoxedValues: true })
  .filter((v) => !hasProtoKey(v))
  .map(withoutNegativeZero);

describe('the value codec (src/codec/values)', () => {
  it('round-trips structured-cloneable values, one at a time and as one batch message', () => {
    fc.assert(
      fc.property(fc.array(cloneable, { maxLength: 20 }), (values) => {
        for (const value of values) expect(decodeValue(encodeValue(value))).toEqual(value);
        expect(unpackValue(packValue(values, 'a batch').slice())).toEqual(values);
        expect(unpackValue(packValues(values, 'a batch').slice())).toEqual(values);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps Map, Set, Date, BigInt, typed arrays, undefined vs null, NaN, boxed primitives, cycles and shared references', () => {
    const shared = { s: 1 };
    const cycle: Record<string, unknown> = { shared: [shared, shared] };
    cycle.self = cycle;
    const value = {
      map: new Map<unknown, unknown>([[{ k: 1 }, new Set([1, 'a'])]]),
      date: new Date(5),
      big: 2n ** 100n,
      small: -5n,
      f64: new Float64Array([1.5, NaN]),
      u8: new Uint8Array([1, 2]),
      nothing: undefined,
      none: null,
      nan: NaN,
      boxed: [new Number(3), new String('s'), new Boolean(false)],
      re: /a+b/gi,
      cycle,
    };
    const back = unpackValue(packValue(value, 'v').slice()) as typeof value;
    expect(back).toEqual(value);
    expect('nothing' in back && back.nothing === undefined).toBe(true);
    expect(back.cycle.self).toBe(back.cycle);
    expect((back.cycle.shared as object[])[0]).toBe((back.cycle.shared as object[])[1]);
    expect(back.boxed[0]).toBeInstanceOf(Number);
  });

  it("refuses an object with an own '__proto__' property rather than rename it (its decoder would)", () => {
    const parsed = JSON.parse('{"__proto__": 1, "a": [{"__proto__": {}}]}');
    expect(() => packValue([parsed], 'a batch')).toThrow(expect.objectContaining({ code: 'ERR_NOT_SERIALIZABLE' }));
    expect(() => packValues([parsed], 'a batch')).toThrow(expect.objectContaining({ code: 'ERR_NOT_SERIALIZABLE' }));
    expect(() => packValue(new Map([[1, { nested: parsed.a[0] }]]), 'a batch')).toThrow(expect.objectContaining({ code: 'ERR_NOT_SERIALIZABLE' }));
  });

  it('refuses what structured clone refuses with ERR_NOT_SERIALIZABLE', () => {
    for (const bad of [() => 1, Symbol('s'), { f() {} }, new WeakMap(), new WeakSet(), Promise.resolve(1), [1, () => 2]]) {
      expect(() => encodeValue(bad)).toThrow(expect.objectContaining({ code: 'ERR_NOT_SERIALIZABLE' }));
      expect(() => packValue([bad], 'a batch')).toThrow(expect.objectContaining({ code: 'ERR_NOT_SERIALIZABLE' }));
      expect(() => packValues([{ ok: 1 }, { bad }], 'a batch')).toThrow(expect.objectContaining({ code: 'ERR_NOT_SERIALIZABLE' }));
    }
  });

  it('encodes a batch as structured clone takes each value: sharing within a value is kept', () => {
    const flat = [{ i: 1, user: 'u', tags: ['a'] }, { i: 2, nested: { deep: [1, 'x', null] } }, 'text', 7];
    // Values that hold each object once take the path without reference tracking: the same bytes.
    expect(Buffer.from(packValues(flat, 'b')).equals(Buffer.from(packValue(flat, 'b')))).toBe(true);
    const tags = ['t'];
    const withinOne = { a: tags, b: tags };
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    const deep = { a: { b: { c: { d: { shared: tags, again: tags } } } } };
    const back = unpackValue(packValues([withinOne, cyclic, deep], 'b').slice()) as [typeof withinOne, typeof cyclic, typeof deep];
    expect(back[0].a).toBe(back[0].b);
    expect(back[1].self).toBe(back[1]);
    expect(back[2].a.b.c.d.shared).toBe(back[2].a.b.c.d.again);
    // Sharing between values is not promised: on the untracked path one object sent twice arrives as two.
    const same = { k: [1] };
    const [x, y] = unpackValue(packValues([same, same], 'b').slice()) as [typeof same, typeof same];
    expect(x).toEqual(same);
    expect(x).not.toBe(y);
    expect(x.k).not.toBe(y.k);
  });
});

describe('ValueBatch frames', () => {
  const ring = new Uint8Array(new SharedArrayBuffer(1 << 16), 1024, 1 << 15);

  it('carry values, timestamps, key hashes and origins in columns, read back in place', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ value: cloneable, ts: fc.double({ noNaN: true }), hash: fc.nat({ max: 2 ** 32 - 1 }), origin: fc.nat({ max: 2 ** 32 - 1 }) }), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.nat({ max: 64 }),
        (records, keyed, slot) => {
          const builder = new ValueBatchBuilder(keyed);
          for (const r of records) builder.add(r.value, r.ts, r.hash, r.origin);
          const size = builder.encode();
          if (size > ring.length - slot * 8) return;
          expect(size % 8).toBe(0);
          builder.writeInto(ring, slot * 8);
          const reader = new ValueBatchReader(ring).read(slot * 8);
          expect(reader.count).toBe(records.length);
          expect(reader.values()).toEqual(records.map((r) => r.value));
          records.forEach((r, i) => {
            expect(reader.ts(i)).toBe(r.ts);
            expect(reader.keyHash(i)).toBe(keyed ? r.hash : 0);
            expect(reader.origin(i)).toBe(records.some((x) => x.origin !== 0) ? r.origin : 0);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('drop the records the codec refuses and send the rest; a prefix can be sent and consumed', () => {
    const builder = new ValueBatchBuilder(false);
    for (let i = 0; i < 10; i++) builder.add(i === 3 ? { f: () => i } : { i }, i, 0, i === 7 ? 9 : 0);
    expect(() => builder.encode()).toThrow(expect.objectContaining({ code: 'ERR_NOT_SERIALIZABLE' }));
    const refused: unknown[] = [];
    builder.dropRefused((value) => void refused.push(value));
    expect(refused).toHaveLength(1);
    builder.encode(0, 5);
    builder.writeInto(ring, 0);
    const reader = new ValueBatchReader(ring).read(0);
    expect(reader.values()).toEqual([0, 1, 2, 4, 5].map((i) => ({ i })));
    builder.consume(5);
    builder.encode();
    builder.writeInto(ring, 0);
    reader.read(0);
    expect(reader.values()).toEqual([6, 7, 8, 9].map((i) => ({ i })));
    expect([0, 1, 2, 3].map((i) => reader.ts(i))).toEqual([6, 7, 8, 9]);
    expect(reader.origin(1)).toBe(9);
  });

  it('carry a batch of strings as one text when they are all ASCII, and any other strings as before', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 8 })), { minLength: 1, maxLength: 60 }), (strings) => {
        const builder = new ValueBatchBuilder(false);
        strings.forEach((s, i) => builder.add(s, i, 0, 0));
        builder.encode();
        builder.writeInto(ring, 0);
        const ascii = strings.every((s) => /^[\x00-\x7f]*$/.test(s));
        expect(packAsciiStrings(strings) !== undefined).toBe(ascii);
        expect(new ValueBatchReader(ring).read(0).values()).toEqual(strings);
      }),
      { numRuns: 300 },
    );
    // Mixed values and empty batches take the structured codec.
    expect(packAsciiStrings(['a', 1])).toBeUndefined();
    expect(packAsciiStrings([])).toBeUndefined();
    expect(unpackAsciiStrings(packAsciiStrings(['', 'ab', '', 'c'])!.slice())).toEqual(['', 'ab', '', 'c']);
  });

  it("write a round-robin share of packed strings straight into a ValueBatch frame, and reuse a released piece's buffer without touching a live one", () => {
    const encoder = new TextEncoder();
    const builder = new StringSpansBuilder();
    const pack = (strings: string[]) => {
      // As a file source packs lines: the text with its separators, each string a span of it.
      let at = builder.textLength;
      for (const s of strings) {
        builder.addSpan(at, at + encoder.encode(s).length);
        at += encoder.encode(s).length + 1;
      }
      const text = encoder.encode(strings.map((s) => `${s}\n`).join(''));
      builder.appendText(text, 0, text.length);
      return builder.take();
    };
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 30 }), { minLength: 1, maxLength: 80 }), fc.integer({ min: 1, max: 4 }), (strings, step) => {
        const packed = pack(strings);
        const live = pack(['kept', 'while the first is reused']);
        for (let first = 0; first < step; first++) {
          const count = packed.shareCount(first, step);
          const want = strings.filter((_, i) => i % step === first);
          expect(count).toBe(want.length);
          if (count === 0) continue;
          expect(packedValueBatchSize(packed, count)).toBeLessThanOrEqual(packedValueBatchSize(packed));
          writePackedValueBatch(ring, 0, packed, 5, first, step);
          const reader = new ValueBatchReader(ring).read(0);
          expect(reader.values()).toEqual(want);
          expect(reader.ts(count - 1)).toBe(5);
        }
        packed.release();
        packed.release(); // twice is once
        const next = pack(['into', 'the released buffer']);
        expect(next.bytes.buffer).toBe(packed.bytes.buffer);
        expect(next.strings()).toEqual(['into', 'the released buffer']);
        expect(live.strings()).toEqual(['kept', 'while the first is reused']);
        next.release();
        live.release();
      }),
      { numRuns: 200 },
    );
  });

  it('refuse a damaged ASCII-strings batch with ERR_MALFORMED_RECORD instead of reading past its text', () => {
    const good = packAsciiStrings(['{"a":1}', 'line two'])!.slice();
    const cut = good.slice(0, good.length - 3);
    const endsOutside = good.slice();
    new Uint32Array(endsOutside.buffer, 8, 2)[0] = 999;
    const tooMany = good.slice();
    new Uint32Array(tooMany.buffer, 4, 1)[0] = 1 << 20;
    for (const bad of [cut, endsOutside, tooMany, good.slice(0, 6)]) {
      expect(() => unpackAsciiStrings(bad)).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED_RECORD' }));
    }
  });
});
