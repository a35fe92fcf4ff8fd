import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  FrameTooLargeError,
  InvalidCapacityError,
  InvalidRingError,
  RingClosedError,
  RingDescriptor,
  SharedRing,
  TimeoutError,
} from '../src/ring/index.js';

const bytes = (...values: number[]) => new Uint8Array(values);

describe('SharedRing basics', () => {
  it('writes and reads frames in order with their types', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    expect(ring.tryWrite(bytes(1, 2, 3), 7)).toBe(true);
    expect(ring.tryWrite(bytes(), 8)).toBe(true);
    expect(ring.tryRead()).toEqual({ type: 7, payload: bytes(1, 2, 3) });
    expect(ring.tryRead()).toEqual({ type: 8, payload: bytes() });
    expect(ring.tryRead()).toBeNull();
  });

  it('drain hands out zero-copy views into the shared data region', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    ring.tryWrite(bytes(9, 9), 1);
    let seen: Uint8Array | undefined;
    ring.drain((_type, data, offset, length) => {
      expect(data.buffer).toBe(ring.buffer);
      seen = data.slice(offset, offset + length);
    });
    expect(seen).toEqual(bytes(9, 9));
  });

  it('claim + commit encodes in place; abort is skipped by the reader', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    const a = ring.tryClaim(3, 4);
    ring.data.set([1, 2, 3, 4], a);
    const b = ring.tryClaim(4, 2);
    expect(ring.hasFrame()).toBe(false); // a is still claimed, not published
    ring.commit(a);
    ring.abort(b);
    expect(ring.tryRead()).toEqual({ type: 3, payload: bytes(1, 2, 3, 4) });
    expect(ring.tryRead()).toBeNull();
    expect(ring.stats().usedBytes).toBe(0);
  });

  it('reports full and recovers after reads, across the wrap', () => {
    const ring = SharedRing.create({ capacity: 1024, multiProducer: false });
    const payload = new Uint8Array(100).fill(5);
    let written = 0;
    while (ring.tryWrite(payload, 1)) written++;
    expect(written).toBe(Math.floor(1024 / 112));
    for (let round = 0; round < 50; round++) {
      expect(ring.tryRead()?.payload).toEqual(payload);
      expect(ring.tryWrite(payload, 1)).toBe(true);
    }
  });

  it('hands out correlation ids and records heartbeats', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    const other = SharedRing.attach(ring.buffer);
    expect(ring.nextCorrelationId()).toBe(1);
    expect(other.nextCorrelationId()).toBe(2);
    expect(ring.lastHeartbeat).toBe(0);
    other.beat();
    expect(Math.abs(ring.lastHeartbeat - Date.now())).toBeLessThan(1000);
  });
});

describe('SharedRing bad input', () => {
  it('rejects a capacity that is not a power of two or out of bounds, naming the rule', () => {
    for (const capacity of [1000, 0, -1024, 1.5, Number.NaN]) {
      expect(() => SharedRing.create({ capacity })).toThrow(/power of two/);
    }
    expect(() => SharedRing.create({ capacity: 512 })).toThrow(InvalidCapacityError);
    try {
      SharedRing.create({ capacity: 512 });
    } catch (error) {
      expect((error as InvalidCapacityError).code).toBe('ERR_INVALID_CAPACITY');
      expect(String(error)).toMatch(/from 1024/);
    }
  });

  it('rejects a frame larger than the ring can hold, writes nothing, stays usable', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    ring.tryWrite(bytes(1), 1);
    const error = (() => {
      try {
        ring.tryWrite(new Uint8Array(ring.maxPayloadLength + 1), 1);
      } catch (e) {
        return e as FrameTooLargeError;
      }
    })();
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect(error?.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(ring.tryWrite(new Uint8Array(ring.maxPayloadLength), 2)).toBe(true);
    expect(ring.tryRead()).toEqual({ type: 1, payload: bytes(1) });
    expect(ring.tryRead()?.payload.length).toBe(ring.maxPayloadLength);
  });

  it('rejects bad frame types', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    expect(() => ring.tryWrite(bytes(1), -1)).toThrow(RangeError);
    expect(() => ring.tryWrite(bytes(1), 1.5)).toThrow(RangeError);
    expect(() => ring.tryWrite(bytes(1), 2 ** 31)).toThrow(RangeError);
  });

  it('refuses writes after close but lets the reader drain what was written', async () => {
    const ring = SharedRing.create({ capacity: 1024 });
    ring.tryWrite(bytes(1), 1);
    ring.close();
    ring.close();
    expect(() => ring.tryWrite(bytes(2), 1)).toThrow(RingClosedError);
    await expect(ring.writeAsync(bytes(2), 1)).rejects.toMatchObject({ code: 'ERR_RING_CLOSED' });
    expect((await ring.readAsync())?.payload).toEqual(bytes(1));
    expect(await ring.readAsync()).toBeNull();
    expect(ring.stats().closed).toBe(true);
  });

  it('refuses to attach to a buffer that holds no ring', () => {
    expect(() => SharedRing.attach(new SharedArrayBuffer(4096))).toThrow(InvalidRingError);
    const ring = SharedRing.create({ capacity: 1024 });
    new Int32Array(ring.buffer)[1] = 99;
    expect(() => SharedRing.attach(ring.buffer)).toThrow(/version 99/);
    expect(() => SharedRing.attach(new ArrayBuffer(4096) as unknown as SharedArrayBuffer)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_RING' }),
    );
  });

  it('refuses blocking calls on the main thread', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    expect(() => ring.write(bytes(1))).toThrow(expect.objectContaining({ code: 'ERR_BLOCKING_ON_MAIN_THREAD' }));
    expect(() => ring.read(0)).toThrow(expect.objectContaining({ code: 'ERR_BLOCKING_ON_MAIN_THREAD' }));
  });

  it('times out an async read and an async write on a full ring', async () => {
    const ring = SharedRing.create({ capacity: 1024 });
    const started = performance.now();
    await expect(ring.readAsync(30)).rejects.toBeInstanceOf(TimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    while (ring.tryWrite(new Uint8Array(200), 1));
    await expect(ring.writeAsync(new Uint8Array(200), 1, 20)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
  });

  it('an async writer waiting for room is woken by the reader', async () => {
    const ring = SharedRing.create({ capacity: 1024 });
    while (ring.tryWrite(new Uint8Array(200), 1));
    const pending = ring.writeAsync(new Uint8Array(200).fill(7), 2, 5000);
    setTimeout(() => ring.drain(() => {}, 1), 5);
    await pending;
  });
});

describe('SharedRing properties', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('write' as const), size: fc.integer({ min: 0, max: 600 }), type: fc.integer({ min: 0, max: 1000 }) }),
    fc.record({ kind: fc.constant('read' as const), max: fc.integer({ min: 1, max: 5 }) }),
  );

  it('behaves as a FIFO queue of frames over any sequence of writes and reads, across wraps', () => {
    fc.assert(
      fc.property(fc.constantFrom(1024, 2048), fc.boolean(), fc.array(op, { maxLength: 300 }), (capacity, multiProducer, ops) => {
        const ring = SharedRing.create({ capacity, multiProducer });
        const model: { type: number; payload: Uint8Array }[] = [];
        let next = 0;
        for (const o of ops) {
          if (o.kind === 'write') {
            const payload = new Uint8Array(o.size).map((_, i) => (next + i) & 0xff);
            next++;
            const empty = model.length === 0;
            if (o.size > ring.maxPayloadLength) {
              expect(() => ring.tryWrite(payload, o.type)).toThrow(FrameTooLargeError);
              continue;
            }
            const ok = ring.tryWrite(payload, o.type);
            if (empty) expect(ok).toBe(true); // an empty ring always takes a frame up to the limit
            if (ok) model.push({ type: o.type, payload });
          } else {
            const got: { type: number; payload: Uint8Array }[] = [];
            const expected = model.splice(0, o.max);
            const count = ring.drain((type, data, offset, length) => got.push({ type, payload: data.slice(offset, offset + length) }), o.max);
            expect(count).toBe(expected.length);
            expect(got).toEqual(expected);
          }
          const stats = ring.stats();
          expect(stats.usedBytes).toBeGreaterThanOrEqual(0);
          expect(stats.usedBytes).toBeLessThanOrEqual(capacity);
          expect(stats.usedBytes % RingDescriptor.FRAME_ALIGNMENT).toBe(0);
        }
        const rest: Uint8Array[] = [];
        ring.drain((_t, data, offset, length) => rest.push(data.slice(offset, offset + length)));
        expect(rest).toEqual(model.map((m) => m.payload));
        const lengths = new Int32Array(ring.buffer, ring.data.byteOffset, ring.capacity / 4).filter((_, i) => i % 2 === 0);
        expect(lengths.every((w) => w === 0)).toBe(true); // every slot a frame may start at reads as free
      }),
      { numRuns: 200 },
    );
  });

  it('an empty ring takes any frame up to the limit, wherever its positions are', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 504 }), fc.integer({ min: 0, max: 1016 }), (size, skew) => {
        const ring = SharedRing.create({ capacity: 1024 });
        for (let moved = 0; moved < (skew & ~7); moved += 8) ring.tryWrite(new Uint8Array(0), 1);
        ring.drain(() => {});
        expect(ring.tryWrite(new Uint8Array(size).fill(3), 1)).toBe(true);
        expect(ring.tryRead()?.payload).toEqual(new Uint8Array(size).fill(3));
      }),
      { numRuns: 300 },
    );
  });
});

describe('SharedRing controlled drain', () => {
  it('a handler returning false ends the drain after its frame; the rest stays for the next drain', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    for (let i = 0; i < 5; i++) ring.tryWrite(new Uint8Array([i]), 1);
    const seen: number[] = [];
    expect(ring.drain((_t, data, offset) => (seen.push(data[offset]!), seen.length < 2 ? undefined : false))).toBe(2);
    expect(seen).toEqual([0, 1]);
    expect(ring.drain((_t, data, offset) => void seen.push(data[offset]!))).toBe(3);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });
});
