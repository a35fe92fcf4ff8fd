import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameTooLargeError, RingClosedError, RingDescriptor, SharedRing, TimeoutError } from '../src/ring/index.js';

/** Every frame left in the ring, copied out, in order. */
function readAll(ring: SharedRing): { type: number; payload: Uint8Array }[] {
  const out: { type: number; payload: Uint8Array }[] = [];
  ring.drain((type, data, offset, length) => void out.push({ type, payload: data.slice(offset, offset + length) }));
  return out;
}

/** Payload of frame `i` in these tests: `length` bytes derived from i. */
function payloadOf(i: number, length: number): Uint8Array {
  return new Uint8Array(length).map((_, k) => (i * 7 + k) & 0xff);
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Every 8-byte slot's length word reads 0: the ring is clean for future frames. */
function allSlotsFree(ring: SharedRing): boolean {
  const words = new Int32Array(ring.buffer, ring.data.byteOffset, ring.capacity / 4);
  for (let i = 0; i < words.length; i += 2) if (words[i] !== 0) return false;
  return true;
}

describe('SharedRing.tryEncodeMany', () => {
  it('writes each frame of a run as a frame of its own, in order, with its type', () => {
    const ring = SharedRing.create({ capacity: 4096 });
    const written = ring.tryEncodeMany(5, 12, 10, (data, offset, index) => data.set(payloadOf(index, 12), offset));
    expect(written).toBe(10);
    const frames = readAll(ring);
    expect(frames).toEqual(Array.from({ length: 10 }, (_, i) => ({ type: 5, payload: payloadOf(i, 12) })));
    expect(ring.stats().framesRead).toBe(10);
    expect(ring.stats().usedBytes).toBe(0);
  });

  it('publishes the run only after its last frame is encoded', () => {
    const ring = SharedRing.create({ capacity: 4096 });
    const seen: boolean[] = [];
    ring.tryEncodeMany(1, 8, 4, (data, offset, index) => {
      seen.push(ring.hasFrame());
      data.fill(index, offset, offset + 8);
    });
    expect(seen).toEqual([false, false, false, false]);
    expect(ring.hasFrame()).toBe(true);
    expect(readAll(ring).map((f) => f.payload[0])).toEqual([0, 1, 2, 3]);
  });

  it('writes as many as fit and returns 0 when not one does', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    // 64-byte frames: 16 fit in an empty 1 KiB ring.
    expect(ring.tryEncodeMany(1, 56, 100, () => {})).toBe(16);
    expect(ring.tryEncodeMany(1, 56, 100, () => {})).toBe(0);
    expect(ring.drain(() => {}, 3)).toBe(3);
    expect(ring.tryEncodeMany(1, 56, 100, () => {})).toBe(3);
    expect(ring.tryEncodeMany(1, 0, 0, () => {})).toBe(0);
  });

  it('puts a padding frame before a run that would cross the end, and never splits a frame', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    // Move the positions to 1000: a 40-byte frame does not fit in the last 24 bytes, so the run
    // starts over at 0, after a padding frame.
    for (let i = 0; i < 125; i++) ring.tryWrite(new Uint8Array(0), 1);
    ring.drain(() => {});
    expect(ring.tryEncodeMany(2, 32, 5, (data, offset, index) => data.set(payloadOf(index, 32), offset))).toBe(5);
    expect(readAll(ring)).toEqual(Array.from({ length: 5 }, (_, i) => ({ type: 2, payload: payloadOf(i, 32) })));
    expect(allSlotsFree(ring)).toBe(true);
  });

  it('when encode throws: earlier frames are published, the rest skipped, the error propagates', () => {
    const ring = SharedRing.create({ capacity: 4096 });
    const boom = new Error('boom');
    const encode = (data: Uint8Array, offset: number, index: number) => {
      if (index === 3) throw boom;
      data.set(payloadOf(index, 16), offset);
    };
    expect(() => ring.tryEncodeMany(4, 16, 8, encode)).toThrow(boom);
    expect(readAll(ring)).toEqual([0, 1, 2].map((i) => ({ type: 4, payload: payloadOf(i, 16) })));
    expect(() => ring.tryEncodeMany(4, 16, 8, () => { throw boom; })).toThrow(boom);
    expect(readAll(ring)).toEqual([]);
    expect(ring.stats().usedBytes).toBe(0);
    expect(allSlotsFree(ring)).toBe(true);
    expect(ring.tryEncodeMany(4, 16, 2, (data, offset, index) => data.set(payloadOf(index, 16), offset))).toBe(2);
    expect(readAll(ring)).toHaveLength(2);
  });

  it('refuses bad input before writing anything, with stable codes', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    const encode = () => {};
    const tooLarge = errorOf(() => ring.tryEncodeMany(1, ring.maxPayloadLength + 1, 4, encode));
    expect(tooLarge).toBeInstanceOf(FrameTooLargeError);
    expect((tooLarge as FrameTooLargeError).code).toBe('ERR_FRAME_TOO_LARGE');
    expect(() => ring.tryEncodeMany(-1, 8, 4, encode)).toThrow(RangeError);
    expect(() => ring.tryEncodeMany(1, -8, 4, encode)).toThrow(RangeError);
    expect(() => ring.tryEncodeMany(1, 8, -1, encode)).toThrow(RangeError);
    expect(() => ring.tryEncodeMany(1, 8, 1.5, encode)).toThrow(RangeError);
    expect(ring.stats().usedBytes).toBe(0);
    expect(ring.hasFrame()).toBe(false);
    ring.close();
    const closed = errorOf(() => ring.tryEncodeMany(1, 8, 4, encode));
    expect(closed).toBeInstanceOf(RingClosedError);
    expect((closed as RingClosedError).code).toBe('ERR_RING_CLOSED');
    expect(ring.stats().usedBytes).toBe(0);
  });
});

describe('SharedRing.tryWriteMany', () => {
  it('writes a list of payloads of different sizes as one frame each, in order', () => {
    const ring = SharedRing.create({ capacity: 4096 });
    const payloads = [0, 1, 7, 8, 9, 100, 3].map((n, i) => payloadOf(i, n));
    expect(ring.tryWriteMany(payloads, 9)).toBe(payloads.length);
    expect(readAll(ring)).toEqual(payloads.map((payload) => ({ type: 9, payload })));
  });

  it('a list longer than one run goes out in several runs, all in order', () => {
    const ring = SharedRing.create({ capacity: 1 << 16 });
    const payloads = Array.from({ length: 100 }, (_, i) => payloadOf(i, i % 90));
    expect(ring.tryWriteMany(payloads, 2)).toBe(100);
    expect(readAll(ring)).toEqual(payloads.map((payload) => ({ type: 2, payload })));
  });

  it('writes the prefix that fits when the ring fills', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    const payloads = Array.from({ length: 40 }, (_, i) => payloadOf(i, 56));
    expect(ring.tryWriteMany(payloads, 1)).toBe(16);
    expect(readAll(ring).map((f) => f.payload)).toEqual(payloads.slice(0, 16));
    expect(ring.tryWriteMany(payloads.slice(16), 1)).toBe(16);
  });

  it('a payload too large anywhere in the list: throws before writing any', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    const payloads = [payloadOf(0, 8), payloadOf(1, 8), new Uint8Array(ring.maxPayloadLength + 1)];
    const error = errorOf(() => ring.tryWriteMany(payloads, 1));
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect((error as FrameTooLargeError).code).toBe('ERR_FRAME_TOO_LARGE');
    expect(ring.hasFrame()).toBe(false);
    expect(ring.stats().usedBytes).toBe(0);
    expect(() => ring.tryWriteMany([payloadOf(0, 8)], 2 ** 31)).toThrow(RangeError);
    ring.close();
    expect(errorOf(() => ring.tryWriteMany([payloadOf(0, 8)], 1))).toMatchObject({ code: 'ERR_RING_CLOSED' });
    expect(ring.stats().usedBytes).toBe(0);
  });
});

describe('SharedRing.encodeManyAsync', () => {
  it('writes more frames than the ring holds while a reader on the same thread drains', async () => {
    const ring = SharedRing.create({ capacity: 1024 });
    const count = 500;
    const got: number[] = [];
    const reader = (async () => {
      while (got.length < count && (await ring.readable(5000))) {
        ring.drain((_type, data, offset) => void got.push(data[offset]! | (data[offset + 1]! << 8)));
      }
    })();
    await ring.encodeManyAsync(3, 24, count, (data, offset, index) => {
      data[offset] = index & 0xff;
      data[offset + 1] = index >> 8;
    }, { timeoutMs: 5000 });
    await reader;
    expect(got).toEqual(Array.from({ length: count }, (_, i) => i));
  });

  it('times out on a full ring, keeping what it wrote; rejects on a closed ring', async () => {
    const ring = SharedRing.create({ capacity: 1024 });
    await expect(ring.encodeManyAsync(1, 56, 20, () => {}, { timeoutMs: 20 })).rejects.toBeInstanceOf(TimeoutError);
    expect(ring.stats().usedBytes).toBe(1024);
    const pending = ring.encodeManyAsync(1, 56, 1, () => {}, { timeoutMs: 5000 });
    setTimeout(() => ring.close(), 5);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_RING_CLOSED' });
    expect(readAll(ring)).toHaveLength(16);
    await expect(ring.encodeManyAsync(1, 8, 1, () => {})).rejects.toBeInstanceOf(RingClosedError);
  });

  it('checks its arguments before writing', async () => {
    const ring = SharedRing.create({ capacity: 1024 });
    await expect(ring.encodeManyAsync(1, 600, 1, () => {})).rejects.toMatchObject({ code: 'ERR_FRAME_TOO_LARGE' });
    await expect(ring.encodeManyAsync(1, 8, 1, () => {}, { runFrames: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(ring.encodeManyAsync(1, 8, Infinity, () => {})).rejects.toBeInstanceOf(RangeError);
    expect(ring.stats().usedBytes).toBe(0);
  });

  it('the blocking form refuses the main thread', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    expect(() => ring.encodeMany(1, 8, 1, () => {})).toThrow(expect.objectContaining({ code: 'ERR_BLOCKING_ON_MAIN_THREAD' }));
  });
});

describe('SharedRing batch writes, properties', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('one' as const), size: fc.integer({ min: 0, max: 300 }) }),
    fc.record({ kind: fc.constant('encode' as const), size: fc.integer({ min: 0, max: 200 }), max: fc.integer({ min: 0, max: 12 }) }),
    fc.record({ kind: fc.constant('list' as const), sizes: fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 10 }) }),
    fc.record({ kind: fc.constant('read' as const), max: fc.integer({ min: 1, max: 8 }) }),
  );

  it('mixes single writes, encoded runs, payload lists and reads as one FIFO, across wraps', () => {
    fc.assert(
      fc.property(fc.constantFrom(1024, 2048), fc.boolean(), fc.array(op, { maxLength: 200 }), (capacity, multiProducer, ops) => {
        const ring = SharedRing.create({ capacity, multiProducer });
        const model: { type: number; payload: Uint8Array }[] = [];
        let next = 0;
        for (const o of ops) {
          if (o.kind === 'one') {
            const payload = payloadOf(next, o.size);
            if (ring.tryWrite(payload, next & 0xffff)) model.push({ type: next & 0xffff, payload });
            next++;
          } else if (o.kind === 'encode') {
            const type = next & 0xffff;
            const first = next;
            const n = ring.tryEncodeMany(type, o.size, o.max, (data, offset, index) => data.set(payloadOf(first + index, o.size), offset));
            expect(n).toBeLessThanOrEqual(o.max);
            for (let i = 0; i < n; i++) model.push({ type, payload: payloadOf(first + i, o.size) });
            next += o.max;
          } else if (o.kind === 'list') {
            const payloads = o.sizes.map((size, i) => payloadOf(next + i, size));
            const n = ring.tryWriteMany(payloads, 7);
            for (let i = 0; i < n; i++) model.push({ type: 7, payload: payloads[i]! });
            next += payloads.length;
          } else {
            const expected = model.splice(0, o.max);
            const got: { type: number; payload: Uint8Array }[] = [];
            expect(ring.drain((type, data, offset, length) => void got.push({ type, payload: data.slice(offset, offset + length) }), o.max)).toBe(expected.length);
            expect(got).toEqual(expected);
          }
          const used = ring.stats().usedBytes;
          expect(used).toBeGreaterThanOrEqual(0);
          expect(used).toBeLessThanOrEqual(capacity);
          expect(used % RingDescriptor.FRAME_ALIGNMENT).toBe(0);
        }
        expect(readAll(ring)).toEqual(model);
        expect(ring.stats().usedBytes).toBe(0);
        expect(allSlotsFree(ring)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
