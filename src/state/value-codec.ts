import { deserialize, serialize } from 'node:v8';

/**
 * The one place state turns values into bytes and back: table values, and the batches of them
 * the store writes. It carries what structured clone carries. When codec/ has the project's value
 * codec, swap these two bodies for it (one line each); nothing else in state/ knows the format.
 */
export function encodeStateValue(value: unknown): Uint8Array {
  return serialize(value);
}

export function decodeStateValue(bytes: Uint8Array): unknown {
  return deserialize(bytes);
}
