import { describe, expect, it } from 'vitest';
import { RingflowError } from '../src/errors.js';
import {
  BufferTooSmallError,
  decodeEnvelope,
  decodeServiceRequest,
  DimensionMismatchError,
  encodeEnvelope,
  encodeServiceRequest,
  encodeServiceResponse,
  envelopeSize,
  InvalidValueError,
  MalformedRecordError,
  MisalignedOffsetError,
  recordBatchSize,
  serviceRequestSize,
  UnserializableValueError,
  ValueOutOfRangeError,
  vectorRecordSize,
  VectorReader,
  writeEnvelope,
  writeRecordBatch,
  writeServiceRequest,
  writeServiceResponse,
  writeVectorRecord,
  type VectorDType,
} from '../src/codec/index.js';

const region = () => new Uint8Array(new SharedArrayBuffer(4096), 8, 2048);

type ErrorClass = abstract new (...args: never[]) => Error;

/** Runs `action`, expects it to throw an instance of `type` (and of the built-in `base`) with `code`; returns the error. */
function expectThrow(action: () => unknown, type: ErrorClass, base: ErrorClass, code: string): Error {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(type);
  expect(caught).toBeInstanceOf(base);
  expect(caught).toMatchObject({ code });
  return caught as Error;
}

describe('codec errors', () => {
  it('a vector of the wrong length is a RangeError with code ERR_DIM_MISMATCH', () => {
    const error = expectThrow(() => writeVectorRecord(region(), 0, 1n, 0, new Float32Array(3), 'Float32', 4), DimensionMismatchError, RangeError, 'ERR_DIM_MISMATCH');
    expect(error).toMatchObject({ expected: 4, actual: 3 });
    expect(error.message).toBe('vector has 3 elements, expected 4');
    expectThrow(
      () => writeRecordBatch(region(), 0, { dim: 2, dtype: 'Float32', uids: [1n, 2n], ts: [0, 0], data: [1, 2, 3] }),
      DimensionMismatchError,
      RangeError,
      'ERR_DIM_MISMATCH',
    );
    expectThrow(
      () => writeRecordBatch(region(), 0, { dim: 1, dtype: 'Float32', uids: [1n, 2n], ts: [0], data: [1, 2] }),
      DimensionMismatchError,
      RangeError,
      'ERR_DIM_MISMATCH',
    );
  });

  it('non-numeric values are TypeErrors, and nothing is written before the check', () => {
    const bytes = region();
    const before = bytes.slice();
    const error = expectThrow(() => writeVectorRecord(bytes, 0, 1n, 0, [1, '2' as unknown as number, 3], 'Float32'), InvalidValueError, TypeError, 'ERR_INVALID_VALUE');
    expect(error.message).toBe('vector[1] is string, expected a number');
    expect(bytes).toEqual(before);
    expectThrow(() => writeVectorRecord(bytes, 0, 1n, 0, [null as unknown as number], 'Float32'), InvalidValueError, TypeError, 'ERR_INVALID_VALUE');
    expectThrow(() => writeVectorRecord(bytes, 0, 1n, 0, new BigInt64Array(2) as unknown as number[], 'Float64'), InvalidValueError, TypeError, 'ERR_INVALID_VALUE');
    expectThrow(() => writeVectorRecord(bytes, 0, 1n, 0, 'abc' as unknown as number[], 'Float64'), InvalidValueError, TypeError, 'ERR_INVALID_VALUE');
    expectThrow(() => writeVectorRecord(bytes, 0, 1 as unknown as bigint, 0, [1], 'Float32'), InvalidValueError, TypeError, 'ERR_INVALID_VALUE');
    expectThrow(() => writeVectorRecord(bytes, 0, 1n, '5' as unknown as number, [1], 'Float32'), InvalidValueError, TypeError, 'ERR_INVALID_VALUE');
    expectThrow(
      () => writeRecordBatch(bytes, 0, { dim: 1, dtype: 'Float32', uids: [1n, 2 as unknown as bigint], ts: [0, 0], data: [1, 2] }),
      InvalidValueError,
      TypeError,
      'ERR_INVALID_VALUE',
    );
    expect(bytes).toEqual(before);
  });

  it('numbers a field cannot hold are RangeErrors with code ERR_OUT_OF_RANGE', () => {
    const bytes = region();
    expectThrow(() => writeVectorRecord(bytes, 0, -1n, 0, [1], 'Float32'), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => writeVectorRecord(bytes, 0, 2n ** 64n, 0, [1], 'Float32'), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => writeVectorRecord(bytes, 0, 1n, 1.5, [1], 'Float32'), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => writeVectorRecord(bytes, 0, 1n, 2n ** 63n, [1], 'Float32'), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => writeVectorRecord(bytes, 0, 1n, Number.NaN, [1], 'Float32'), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => vectorRecordSize(-1, 'Float32'), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => recordBatchSize(2 ** 14, 2 ** 14, 'Float64'), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => encodeServiceRequest({ id: -1, service: 's', method: 'm' }), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => encodeServiceRequest({ id: 1, service: 's', method: 'm', deadline: Number.NaN }), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => encodeServiceResponse({ id: 2 ** 32, ok: false, error: new Error('x') }), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => writeVectorRecord(bytes, -8, 1n, 0, [1], 'Float32'), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    // Payloads and strings are limited to MAX_PAYLOAD_BYTES (512 MiB, the largest ring frame).
    expectThrow(() => envelopeSize(2 ** 29 + 1), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => serviceRequestSize('s', 'm', -1), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    const oversized = { byteLength: 2 ** 30, writeInto: () => {} };
    expectThrow(() => writeServiceResponse(bytes, 0, 1, oversized), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');
    expectThrow(() => writeServiceResponse(bytes, 0, 1, { byteLength: 1.5, writeInto: () => {} }), InvalidValueError, TypeError, 'ERR_INVALID_VALUE');
  });

  it('an unknown dtype or codec name is ERR_INVALID_ARGUMENT', () => {
    const error = expectThrow(() => vectorRecordSize(4, 'Float16' as VectorDType), RingflowError, Error, 'ERR_INVALID_ARGUMENT');
    expect(error.message).toContain("dtype must be 'Float32' or 'Float64'");
    expectThrow(() => encodeEnvelope(new Uint8Array(1), { codec: 'json' as 'raw' }), RingflowError, Error, 'ERR_INVALID_ARGUMENT');
  });

  it('a region too small for the record is ERR_BUFFER_TOO_SMALL', () => {
    const bytes = region();
    const size = vectorRecordSize(4, 'Float64');
    const error = expectThrow(() => writeVectorRecord(bytes, bytes.length - size + 8, 1n, 0, [1, 2, 3, 4], 'Float64'), BufferTooSmallError, RingflowError, 'ERR_BUFFER_TOO_SMALL');
    expect(error).toMatchObject({ needed: size, available: size - 8 });
    expectThrow(() => writeVectorRecord(bytes, bytes.length + 64, 1n, 0, [1], 'Float64'), BufferTooSmallError, RingflowError, 'ERR_BUFFER_TOO_SMALL');
    expectThrow(() => writeEnvelope(new Uint8Array(16), 0, { key: 'k' }, new Uint8Array(8)), BufferTooSmallError, RingflowError, 'ERR_BUFFER_TOO_SMALL');
  });

  it('a record that would not start on an 8-byte boundary of its buffer is ERR_MISALIGNED', () => {
    const bytes = region();
    const error = expectThrow(() => writeVectorRecord(bytes, 4, 1n, 0, [1], 'Float64'), MisalignedOffsetError, RingflowError, 'ERR_MISALIGNED');
    expect(error).toMatchObject({ byteOffset: 12, alignment: 8 });
    // The region itself may be the misaligned part.
    const shifted = new Uint8Array(new SharedArrayBuffer(256), 4, 128);
    expectThrow(() => writeServiceRequest(shifted, 0, { id: 1, service: 's', method: 'm' }, new Uint8Array(0)), MisalignedOffsetError, RingflowError, 'ERR_MISALIGNED');
  });

  it('a record copied off its alignment: vector() refuses with ERR_MISALIGNED, copyVector() still works', () => {
    const record = new Uint8Array(vectorRecordSize(2, 'Float64'));
    writeVectorRecord(record, 0, 1n, 0, [1.5, 2.5], 'Float64');
    const shifted = new Uint8Array(new ArrayBuffer(record.length + 4), 4);
    shifted.set(record);
    const reader = new VectorReader(shifted).read(0);
    expectThrow(() => reader.vector(), MisalignedOffsetError, RingflowError, 'ERR_MISALIGNED');
    expect(Array.from(reader.copyVector())).toEqual([1.5, 2.5]);
  });

  it('bytes that are not a record are ERR_MALFORMED_RECORD, not garbage values', () => {
    const bytes = new Uint8Array(64).fill(0xff);
    expectThrow(() => new VectorReader(bytes).read(0), MalformedRecordError, RingflowError, 'ERR_MALFORMED_RECORD');
    expectThrow(() => new VectorReader(bytes).read(64), MalformedRecordError, RingflowError, 'ERR_MALFORMED_RECORD');
    expectThrow(() => decodeEnvelope(new Uint8Array(8)), MalformedRecordError, RingflowError, 'ERR_MALFORMED_RECORD');
    expectThrow(() => new VectorReader(bytes).read(3), ValueOutOfRangeError, RangeError, 'ERR_OUT_OF_RANGE');

    // A request truncated in the middle of its arguments.
    const request = encodeServiceRequest({ id: 1, service: 'kv', method: 'get', args: ['a long enough argument'] });
    expectThrow(() => decodeServiceRequest(request.subarray(0, request.length - 16)), MalformedRecordError, RingflowError, 'ERR_MALFORMED_RECORD');

    // A VectorRecord whose dim disagrees with its data.
    const record = new Uint8Array(vectorRecordSize(2, 'Float32'));
    writeVectorRecord(record, 0, 1n, 0, [1, 2], 'Float32');
    const reader = new VectorReader(record);
    const dimAt = record.indexOf(2, 8); // the dim field comes before the data's length prefix
    record[dimAt] = 3;
    expectThrow(() => reader.read(0), MalformedRecordError, RingflowError, 'ERR_MALFORMED_RECORD');
  });

  it('values v8.serialize refuses are TypeErrors with code ERR_NOT_SERIALIZABLE and the cause', () => {
    const error = expectThrow(() => encodeEnvelope({ f: () => 1 }), UnserializableValueError, TypeError, 'ERR_NOT_SERIALIZABLE');
    expect(error.cause).toBeInstanceOf(Error);
    expectThrow(() => encodeServiceRequest({ id: 1, service: 's', method: 'm', args: [Symbol('x')] }), UnserializableValueError, TypeError, 'ERR_NOT_SERIALIZABLE');
    expectThrow(() => encodeServiceResponse({ id: 1, ok: true, result: new WeakMap() }), UnserializableValueError, TypeError, 'ERR_NOT_SERIALIZABLE');
    expectThrow(() => encodeEnvelope('not bytes', { codec: 'raw' }), InvalidValueError, TypeError, 'ERR_INVALID_VALUE');
    expectThrow(() => encodeServiceRequest({ id: 1, service: 's', method: 'm', args: 'x' as unknown as unknown[] }), InvalidValueError, TypeError, 'ERR_INVALID_VALUE');
  });
});
