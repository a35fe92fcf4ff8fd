import { InvalidValueError, ValueOutOfRangeError } from './errors.js';
import { decodeValue, encodeValue } from './values/index.js';
import { utf8Length } from './utf8.js';

/**
 * Something that writes its own bytes: a two-phase encoder that has measured a value
 * (`byteLength`) and then writes it straight into the record (`writeInto`), so the bytes are not
 * first built in a temporary buffer. `writeInto` runs while a ring claim is held: it must only copy.
 * An object implementing this can be reused call after call (set `byteLength`, pass it again).
 */
export interface PayloadWriter {
  readonly byteLength: number;
  writeInto(target: Uint8Array, offset: number): void;
}

/** The bytes of an Envelope payload, a call's arguments or a call's result. */
export type PayloadSource = Uint8Array | PayloadWriter;

/** Largest payload, and largest UTF-8 string, a record carries (512 MiB, the largest ring frame). */
export const MAX_PAYLOAD_BYTES = 2 ** 29;

export function payloadLength(payload: PayloadSource): number {
  // `length`, not `byteLength`: the latter is a slow call on a Uint8Array in Node 20 (memory.ts).
  if (payload instanceof Uint8Array) return checkPayloadBytes(payload.length, 'a payload');
  if (typeof payload !== 'object' || payload === null || typeof payload.writeInto !== 'function') {
    throw new InvalidValueError('a payload must be a Uint8Array or a PayloadWriter ({ byteLength, writeInto })');
  }
  const length = payload.byteLength;
  if (!Number.isInteger(length) || length < 0) {
    throw new InvalidValueError(`a PayloadWriter's byteLength must be a non-negative integer, got ${length}`);
  }
  return checkPayloadBytes(length, 'a payload');
}

/** Returns `bytes` after checking it is a byte count within MAX_PAYLOAD_BYTES. */
export function checkPayloadBytes(bytes: number, what: string): number {
  if (!(Number.isInteger(bytes) && bytes >= 0 && bytes <= MAX_PAYLOAD_BYTES)) {
    throw new ValueOutOfRangeError(`${what} must be 0 to ${MAX_PAYLOAD_BYTES} bytes long, got ${bytes}`);
  }
  return bytes;
}

/** The UTF-8 length of a string a record carries (a key, a name), checked like a payload's. */
export function stringBytes(text: string, what: string): number {
  return checkPayloadBytes(utf8Length(text), what);
}

/**
 * Writes a payload whose length `payloadLength` returned at byte `at` of `target`. Small byte
 * payloads are copied in a loop: TypedArray.prototype.set costs ~100 ns a call into shared memory.
 */
export function writePayload(target: Uint8Array, at: number, payload: PayloadSource): void {
  if (!(payload instanceof Uint8Array)) {
    payload.writeInto(target, at);
  } else if (payload.length > 64) {
    target.set(payload, at);
  } else {
    for (let i = 0; i < payload.length; i++) target[at + i] = payload[i]!;
  }
}

/** The value codec's bytes of `value` (src/codec/values); throws UnserializableValueError (ERR_NOT_SERIALIZABLE). */
export function serialize(value: unknown, what: string): Uint8Array {
  return encodeValue(value, what);
}

/** Decodes bytes `serialize` wrote, which may sit in a ring: the value never views them. */
export function deserialize(bytes: Uint8Array): unknown {
  return decodeValue(bytes);
}
