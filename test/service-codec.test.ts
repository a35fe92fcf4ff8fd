import v8 from 'node:v8';
import { decodeValue, encodeValue } from '../src/codec/values/index.js';
import * as flatbuffers from 'flatbuffers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasProtoKey } from './helpers/values.js';
import {
  encodeServiceRequest,
  encodeServiceResponse,
  InvalidValueError,
  ServiceRequestReader,
  ServiceResponseReader,
  serviceRequestNames,
  serviceRequestSize,
  serviceResponseSize,
  ValueOutOfRangeError,
  writeServiceRequest,
  writeServiceResponse,
} from '../src/codec/index.js';
import { ServiceRequest } from '../src/codec/generated/ringflow/wire/service-request.js';
import { ServiceResponse } from '../src/codec/generated/ringflow/wire/service-response.js';
import { PayloadDecoder, PayloadEncoder, UnserializableError } from '../src/service/index.js';

const encoder = new PayloadEncoder();
const decoder = new PayloadDecoder();

function withoutNegativeZero(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNegativeZero(v)]));
  return value;
}

function roundTrip(value: unknown): unknown {
  const bytes = encoder.encode(value);
  return decoder.decode(bytes, 0, bytes.length);
}

describe('service payloads (the value codec: v8.serialize format fast path, structured codec for the rest)', () => {
  const samples: unknown[] = [
    undefined, null, true, false, 0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 1.5, NaN, Infinity, -Infinity,
    '', 'k', 'héllo', '€uro', 'x'.repeat(300), 'é€'.repeat(100), 0n, 10n, -10n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 100n),
    new Date(123), [1, 'a', [2, [3]]], { a: 1, b: { c: 'd' }, 1: 2 }, { ['__proto__']: 1 },
    new Float32Array([1, 2, 3]), new Float64Array([1.5]), Buffer.from('hi'), new Uint8Array([1, 2]), new BigInt64Array([5n]),
    new Float32Array(new ArrayBuffer(16), 4, 2), new Map([[1, { a: 2 }]]), new Set(['a']), [1, , 3], /re/g, Object.create(null),
  ];

  it('writes the common subset as v8.serialize does (and reads it back), the rest through the structured codec', () => {
    for (const value of samples) {
      const mine = encoder.encode(value);
      expect(roundTrip(value)).toEqual(value);
      if (mine[0] !== 0xff) continue; // the structured codec's tagged bytes (Map, Set, RegExp, holes, ...)
      expect(v8.deserialize(Buffer.from(mine))).toEqual(value);
      const theirs = v8.serialize(value);
      expect(decoder.decode(new Uint8Array(theirs), 0, theirs.length)).toEqual(value);
    }
    expect(encoder.encode(new Map([[1, 2]]))[0]).toBe(0x4d);
  });

  it('writes argument lists of scalars byte for byte as v8.serialize does', () => {
    for (const value of [[1, -1, 'k', true, null, undefined], [2 ** 31, 'héllo', -0], [], 7, 'abc']) {
      expect(Buffer.from(encoder.encode(value))).toEqual(v8.serialize(value));
    }
  });

  it('reads each element of an argument list once, also when a later one is not a scalar', () => {
    let reads = 0;
    const args: unknown[] = [1, 'k', 0];
    Object.defineProperty(args, 1, { get: () => (reads++, 'k'), enumerable: true, configurable: true });
    Object.defineProperty(args, 2, { get: () => (reads++, { deep: [reads] }), enumerable: true, configurable: true });
    const bytes = encoder.encode(args);
    expect(reads).toBe(2);
    expect(v8.deserialize(Buffer.from(bytes))).toEqual([1, 'k', { deep: [2] }]);
    expect(roundTrip([1, 'two', [3], 'four'])).toEqual([1, 'two', [3], 'four']);
  });

  it('keeps shared references and cycles (through the general serializer)', () => {
    const shared = { s: 1 };
    const [a, b] = roundTrip([shared, shared]) as [object, object];
    expect(a).toBe(b);
    const cycle: { self?: unknown } = {};
    cycle.self = cycle;
    const back = roundTrip(cycle) as { self: unknown };
    expect(back.self).toBe(back);
  });

  it('copies typed arrays out of the source (no view into a ring that will be recycled)', () => {
    const ring = new Uint8Array(new SharedArrayBuffer(256));
    const n = encoder.prepare(new Float64Array([1, 2, 3]));
    encoder.writeInto(ring, 8);
    const back = decoder.decode(ring, 8, 8 + n) as Float64Array;
    ring.fill(0);
    expect(Array.from(back)).toEqual([1, 2, 3]);
    expect(back.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });

  it('refuses functions and symbols with a TypeError', () => {
    for (const bad of [() => 1, Symbol('s'), [1, () => 1], { f() {} }]) {
      expect(() => encoder.prepare(bad)).toThrow(UnserializableError);
      expect(() => encoder.prepare(bad)).toThrow(TypeError);
    }
  });

  it('round-trips arbitrary JSON-like values and matches v8', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.bigInt(), fc.double(), (json, big, d) => {
        const value = [json, big, d];
        let mine: Uint8Array;
        try {
          mine = encoder.encode(value);
        } catch (error) {
          // An own '__proto__' key (fc.jsonValue makes them, as JSON.parse does) is refused on the
          // structured path (see helpers/values.ts); nothing else may be.
          expect(hasProtoKey(value) && (error as { code?: string }).code).toBe('ERR_NOT_SERIALIZABLE');
          return;
        }
        if (mine[0] === 0xff) expect(v8.deserialize(Buffer.from(mine))).toEqual(value);
        // The structured codec (a bigint of 2^64 or more sends the list there) delivers -0 as 0.
        expect(roundTrip(value)).toEqual(mine[0] === 0xff ? value : withoutNegativeZero(value));
      }),
      { numRuns: 300 },
    );
  });
});

describe('payloads written straight into codec records (PayloadEncoder as a PayloadWriter)', () => {
  const data = new Uint8Array(new SharedArrayBuffer(1152 + 8192), 1152, 8192);

  it('writes request arguments in place; the generated classes and the codec reader read them', () => {
    const args = ['k', 42, new Float64Array([1.5, 2.5]), { when: new Date(7) }];
    const argsLength = encoder.prepare(args);
    const size = serviceRequestSize('kv', 'gét', argsLength);
    expect(writeServiceRequest(data, 64, { id: 77, service: 'kv', method: 'gét', deadline: 1234.5, replyRing: 3 }, encoder)).toBe(size);
    const request = ServiceRequest.getRootAsServiceRequest(new flatbuffers.ByteBuffer(data.slice(64, 64 + size)));
    expect([request.id(), request.service(), request.method(), request.deadline(), request.replyRing()]).toEqual([77, 'kv', 'gét', 1234.5, 3]);
    expect(decodeValue(request.argsArray()!)).toEqual(args);
    const reader = new ServiceRequestReader(data).read(64);
    expect(decoder.decode(data, reader.argsOffset, reader.argsOffset + reader.argsLength)).toEqual(args);
    expect(reader.args()).toEqual(args);
  });

  it('writes requests whose names were encoded once (serviceRequestNames), byte for byte as with the names as strings', () => {
    const names = serviceRequestNames('kv', 'gét');
    expect(serviceRequestNames('kv', 'gét')).toBe(names); // kept: encoded once per thread
    expect([names.service, names.method]).toEqual(['kv', 'gét']);
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    fc.assert(
      fc.property(text, text, fc.array(fc.jsonValue(), { maxLength: 3 }), fc.nat({ max: 40 }), (service, method, args, slot) => {
        const named = serviceRequestNames(service, method);
        const argsBytes = args.length === 0 ? new Uint8Array(0) : encodeValue(args); // as encodeServiceRequest does
        const size = named.requestSize(argsBytes.length);
        expect(size).toBe(serviceRequestSize(service, method, argsBytes.length));
        const offset = 64 + slot * 8;
        data.fill(0xff, 0, offset + size + 64); // padding must come out zeroed
        // The header's strings are not read when names are given.
        expect(writeServiceRequest(data, offset, { id: 5, service: 'x', method: 'y', deadline: 9.5, replyRing: 2, names: named }, argsBytes)).toBe(size);
        const expected = encodeServiceRequest({ id: 5, service, method, deadline: 9.5, replyRing: 2, args });
        expect(data.slice(offset, offset + size)).toEqual(expected);
        const request = ServiceRequest.getRootAsServiceRequest(new flatbuffers.ByteBuffer(data.slice(offset, offset + size)));
        const utf8 = (s: string) => new TextDecoder().decode(new TextEncoder().encode(s));
        expect([request.id(), request.service(), request.method(), request.deadline(), request.replyRing()]).toEqual([5, utf8(service), utf8(method), 9.5, 2]);
        expect(new ServiceRequestReader(data).read(offset).args()).toEqual(args);
      }),
      { numRuns: 200 },
    );
    expect(() => serviceRequestNames(7 as unknown as string, 'm')).toThrow(InvalidValueError);
    expect(() => names.requestSize(-1)).toThrow(ValueOutOfRangeError);
  });

  it('writes results in place, and reads error records', () => {
    const length = encoder.prepare({ r: 1 });
    const size = writeServiceResponse(data, 2048, 99, encoder);
    expect(size).toBe(serviceResponseSize(length));
    const ok = ServiceResponse.getRootAsServiceResponse(new flatbuffers.ByteBuffer(data.slice(2048, 2048 + size)));
    expect([ok.id(), ok.ok(), ok.error()]).toEqual([99, true, null]);
    expect(v8.deserialize(Buffer.from(ok.resultArray()!))).toEqual({ r: 1 });
    const reader = new ServiceResponseReader(data).read(2048);
    expect(decoder.decode(data, reader.resultOffset, reader.resultOffset + reader.resultLength)).toEqual({ r: 1 });
    const failure = encodeServiceResponse({ id: 7, ok: false, error: Object.assign(new TypeError('bad'), { code: 'E' }) });
    data.set(failure, 4096);
    const error = new ServiceResponseReader(data).read(4096);
    expect(error.ok).toBe(false);
    expect(error.error()).toMatchObject({ code: 'E', name: 'TypeError', message: 'bad' });
  });
});
