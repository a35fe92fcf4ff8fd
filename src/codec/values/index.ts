/**
 * The value codec: how ringflow encodes a JS value of any shape, for streams and services alike.
 *
 * - One value (an Envelope payload, a service call's arguments or result): `encodeValue` /
 *   `decodeValue`, or the two-phase `PayloadEncoder` (measure, then write straight into a claimed
 *   frame) and `PayloadDecoder`. Small values of the common kinds take a hand-written fast path;
 *   the rest the structured-clone codec.
 * - Many values (a ValueBatch frame's column): one structured-codec message for the whole batch
 *   (`packValues`), built by codec/value-batch.ts.
 *
 * Both round-trip what structured clone does (cycles and shared references, Map, Set, Date,
 * RegExp, Error, BigInt, typed arrays, undefined vs null, NaN), except that -0 arrives as 0 and a
 * sparse array's holes as undefined; a function, a symbol, a WeakMap/WeakSet/WeakRef or a Promise
 * is refused with UnserializableValueError (ERR_NOT_SERIALIZABLE).
 */
import { PayloadDecoder, PayloadEncoder, payloadDecoder, payloadEncoder } from './v8-subset.js';

export { PayloadEncoder, PayloadDecoder, payloadEncoder, payloadDecoder, encodeStructured } from './v8-subset.js';
export { packValue, packValues, unpackValue } from './structured.js';

/** A value's bytes, owned by the caller. Throws UnserializableValueError. */
export function encodeValue(value: unknown, what = 'the value'): Uint8Array {
  const encoder = PayloadEncoder.forUse(payloadEncoder);
  const bytes = new Uint8Array(encoder.prepare(value, what));
  encoder.writeInto(bytes, 0);
  return bytes;
}

/** Decodes what `encodeValue` wrote (the bytes may be ring memory: the value never views them). */
export function decodeValue(bytes: Uint8Array): unknown {
  return (payloadDecoder as PayloadDecoder).decode(bytes, 0, bytes.length);
}
