import { addExtension, Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { MalformedRecordError, UnserializableValueError } from '../errors.js';

/**
 * The structured-clone half of the value codec: MessagePack (msgpackr) with its record extension
 * and its structured-clone extensions (cycles and shared references, Map, Set, Date, RegExp, Error,
 * BigInt, ArrayBuffer, DataView and typed arrays, undefined).
 *
 * Record structures (an object's key list, written once and then referred to by a small id) are
 * defined inline in each encoded message, never kept in shared state: a batch frame is one message,
 * so it describes itself — any reader, however late it attached and whichever writer sent the frame,
 * decodes it alone. One message per batch also means one encoder call per batch, which is where
 * msgpackr is fastest (measured in bench/_scratch/codec-values.ts; see README).
 *
 * Known differences from structured clone: -0 arrives as 0, holes of a sparse array as
 * undefined, and an object with an own property named `__proto__` is refused. What structured clone refuses (functions, symbols, WeakMap, WeakSet, WeakRef,
 * Promise) is refused with UnserializableValueError (ERR_NOT_SERIALIZABLE).
 */

const refuse = (what: string) => () => {
  throw new TypeError(`${what} could not be cloned`);
};

// msgpackr would write these as `{}`; structured clone throws DataCloneError for them.
// (addExtension is msgpackr's module-wide registry.)
let extensionsAdded = false;
function addRefusals(): void {
  if (extensionsAdded) return;
  extensionsAdded = true;
  const refused: [new (...args: never[]) => unknown, string][] = [
    [WeakMap, 'a WeakMap'],
    [WeakSet, 'a WeakSet'],
    [Promise, 'a Promise'],
  ];
  if (typeof WeakRef === 'function') refused.push([WeakRef, 'a WeakRef']);
  // Extension types 0x20-0x2a are free in msgpackr's set; they are never written (write throws).
  refused.forEach(([Class, what], i) => addExtension({ Class, type: 0x20 + i, write: refuse(what), read: refuse(what) }));
  // Boxed primitives (new Number(1), new String('s'), new Boolean(true)) stay boxed, as in structured clone.
  addExtension({ Class: Number, type: 0x28, write: (n: number) => n.valueOf(), read: (n: number) => new Number(n) });
  addExtension({ Class: String, type: 0x29, write: (t: string) => t.valueOf(), read: (t: string) => new String(t) });
  addExtension({ Class: Boolean, type: 0x2a, write: (b: boolean) => b.valueOf(), read: (b: boolean) => new Boolean(b) });
}
addRefusals();

/**
 * msgpackr renames an own property `__proto__` to `__proto_` when it decodes (its guard against
 * prototype pollution), so such an object (JSON.parse makes them) is refused rather than changed.
 * The per-object hook costs one own-property check.
 */
function recordFor(object: object): boolean {
  if (Object.hasOwn(object, '__proto__')) throw new TypeError("an object with an own property named '__proto__' could not be cloned");
  return true;
}

const options = {
  structuredClone: true,
  useRecords: recordFor,
  writeFunction: refuse('a function'),
};

const packr = new Packr(options);
// The same format without reference tracking (the structured-clone option's only addition to
// moreTypes): for values that provably hold no object twice, where tracking costs ~40% of encoding.
const untrackedPackr = new Packr({ ...options, structuredClone: false, moreTypes: true });
const unpackr = new Unpackr({ structuredClone: true, useRecords: true });

/**
 * Encodes one value (an array of a batch's values is one value). The bytes are a view of the
 * encoder's reused buffer: copy them before the next call. Throws UnserializableValueError.
 */
export function packValue(value: unknown, what: string): Uint8Array {
  try {
    return packr.pack(value);
  } catch (error) {
    throw new UnserializableValueError(what, error);
  }
}

/**
 * Encodes a batch's values as one message (an array). Each value is taken as structured clone
 * takes one value: references shared within a value (and cycles) are kept. Sharing between values
 * is not promised (two values that are one object may arrive as one or as two; records are
 * separate messages). Values made of primitives, plain objects and arrays, a few levels deep with
 * each object met once, need no reference tracking and are encoded without it, into the same
 * bytes. Same contract as `packValue`.
 */
export function packValues(values: readonly unknown[], what: string): Uint8Array {
  try {
    return (eachHoldsEachObjectOnce(values) ? untrackedPackr : packr).pack(values);
  } catch (error) {
    throw new UnserializableValueError(what, error);
  }
}

/** The objects a value may hold for the quick check below; deeper or larger values take the tracking path. */
const CHECKED_OBJECTS = 8;
const CHECKED_DEPTH = 3;
// The objects met so far in the value being checked (a fixed array and a count: resizing an
// array per value cost three times the walk).
const met: object[] = new Array<object>(CHECKED_OBJECTS);
let metCount = 0;

/**
 * True when every value is a primitive, or plain objects and arrays (at most CHECKED_DEPTH levels,
 * CHECKED_OBJECTS objects) of primitives in which no object appears twice: nothing for reference
 * tracking to find. Any other object (Map, Date, typed array, a class instance) answers false.
 */
function eachHoldsEachObjectOnce(values: readonly unknown[]): boolean {
  let once = true;
  for (let i = 0; once && i < values.length; i++) {
    const value = values[i];
    if (typeof value !== 'object' || value === null) continue;
    metCount = 0;
    once = walk(value, 0);
  }
  met.fill(undefined as unknown as object); // holds no value past the check
  return once;
}

function walk(object: object, depth: number): boolean {
  if (depth === CHECKED_DEPTH || metCount === CHECKED_OBJECTS) return false;
  for (let i = 0; i < metCount; i++) if (met[i] === object) return false;
  met[metCount++] = object;
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const item: unknown = object[i];
      if (typeof item === 'object' && item !== null && !walk(item, depth + 1)) return false;
    }
    return true;
  }
  if (Object.getPrototypeOf(object) !== Object.prototype) return false;
  for (const key in object) {
    const item: unknown = (object as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null && !walk(item, depth + 1)) return false;
  }
  return true;
}

/**
 * Decodes one message from bytes the caller owns (values may view them: copy ring memory out
 * first). Throws MalformedRecordError for bytes that are not one whole message.
 */
export function unpackValue(bytes: Uint8Array): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch (error) {
    throw new MalformedRecordError(`the encoded value cannot be decoded: ${(error as Error)?.message ?? String(error)}`);
  }
}
