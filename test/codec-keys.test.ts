import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey, keyString } from '../src/codec/index.js';
import { readUtf8, utf8Length, writeUtf8 } from '../src/codec/utf8.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Any UTF-16 code unit, lone surrogates included. */
const utf16 = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)), maxLength });

describe('hashKey', () => {
  it('is pinned: these values are part of the wire contract (Envelope.key_hash, keyBy partitions)', () => {
    // FNV-1a over UTF-16 code units, then the murmur3 finalizer (checked against an independent
    // Python implementation). If this test fails, existing keys
    // would be routed to other partitions: do not update the numbers, restore the function.
    expect(hashKey('')).toBe(0xab3e7c0b);
    expect(hashKey('user-42')).toBe(0x7c2a1196);
    expect(hashKey('é😀')).toBe(0xf7e88df0);
    expect(hashKey(42)).toBe(hashKey('42'));
  });

  it('is the same in another process', () => {
    const keys = ['a', 'user-42', 'é😀', '', 'x'.repeat(1000)];
    const script = `import('./src/codec/hash-key.ts').then(m => console.log(JSON.stringify(${JSON.stringify(keys)}.map(m.hashKey))))`;
    const output = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', cwd: repoRoot });
    expect(JSON.parse(output)).toEqual(keys.map(hashKey));
  });

  it('hashes numbers, bigints and strings by value, and returns uint32', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.bigInt(), fc.string(), fc.boolean()), (key) => {
        const hash = hashKey(key);
        expect(Number.isInteger(hash) && hash >= 0 && hash < 2 ** 32).toBe(true);
        expect(hashKey(keyString(key))).toBe(hash);
      }),
    );
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        expect(hashKey(n)).toBe(hashKey(BigInt(n)));
        expect(hashKey(n)).toBe(hashKey(String(n)));
      }),
    );
    expect(hashKey(-0)).toBe(hashKey(0));
    expect(hashKey(true)).toBe(hashKey('true'));
  });

  it('gives a lone surrogate the hash of U+FFFD, as the key reads back from the wire', () => {
    expect(keyString('a\ud800b')).toBe('a\ufffdb');
    expect(hashKey('a\ud800b')).toBe(hashKey('a\ufffdb'));
  });

  it('spreads similar keys evenly over a few partitions (low bits included)', () => {
    for (const partitions of [2, 3, 8, 16]) {
      const counts = new Array<number>(partitions).fill(0);
      const keys = 20_000;
      for (let i = 0; i < keys; i++) counts[hashKey(`user-${i}`) % partitions]! += 1;
      const expected = keys / partitions;
      for (const count of counts) expect(Math.abs(count - expected) / expected).toBeLessThan(0.06);
    }
  });

  it('refuses keys that have no stable value (objects, symbols, null, undefined)', () => {
    for (const key of [{}, [1], Symbol('s'), null, undefined, () => 1]) {
      expect(() => hashKey(key)).toThrow(expect.objectContaining({ name: 'InvalidValueError', code: 'ERR_INVALID_VALUE' }));
    }
  });
});

describe('utf8 (the in-place string writer and the cached reader)', () => {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  it('writes what TextEncoder writes, for any string (lone surrogates become U+FFFD)', () => {
    fc.assert(
      fc.property(fc.oneof(utf16(100), fc.string({ unit: 'grapheme', maxLength: 100 })), fc.integer({ min: 0, max: 7 }), (text, at) => {
        const expected = encoder.encode(text);
        expect(utf8Length(text)).toBe(expected.length);
        const target = new Uint8Array(new SharedArrayBuffer(at + expected.length + 1)).fill(0xee);
        writeUtf8(target, at, text);
        expect(target.subarray(at, at + expected.length)).toEqual(expected);
        expect(target[at + expected.length]).toBe(0xee);
        expect(readUtf8(target, at, expected.length)).toBe(decoder.decode(expected));
      }),
      { numRuns: 500 },
    );
  });

  it('never returns a cached string for different bytes of the same length', () => {
    const target = new Uint8Array(64);
    const seen = new Map<string, string>();
    for (let i = 0; i < 5000; i++) {
      const text = `k${(i * 7919) % 100000}`.padEnd(8, '.');
      writeUtf8(target, 8, text);
      expect(readUtf8(target, 8, text.length)).toBe(text);
      seen.set(text, text);
    }
    expect(seen.size).toBeGreaterThan(1000);
  });
});
