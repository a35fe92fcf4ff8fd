import { InvalidValueError } from './errors.js';

/** A value `keyBy` can route on. */
export type RecordKey = string | number | bigint | boolean;

/**
 * The canonical string form of a key: what an Envelope stores and what `hashKey` hashes. Numbers
 * and bigints use their decimal form, so 42, 42n and '42' are one key (and -0 is 0). A string with
 * a lone surrogate gets U+FFFD in its place, as its UTF-8 form on the wire does, so a key read back
 * from an Envelope hashes as it did when written.
 */
export function keyString(key: unknown): string {
  switch (typeof key) {
    case 'string':
      return key.isWellFormed() ? key : key.toWellFormed();
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(key);
    default:
      throw new InvalidValueError(
        `a record key must be a string, number, bigint or boolean, got ${key === null ? 'null' : typeof key}; ` +
          'return one from keyBy (for a composite key, join its parts into a string)',
      );
  }
}

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * A stable 32-bit hash of a key, for keyBy routing (its key group is `hashKey(key) % maxParallelism`, see state/key-groups.ts): the same in
 * every thread, process and version. This function is part of the wire contract (Envelope.key_hash
 * stores it): changing it would send existing keys to other partitions.
 *
 * Algorithm: FNV-1a over the UTF-16 code units of `keyString(key)` (each unit taken whole), then
 * the murmur3 32-bit finalizer, whose avalanche makes the low bits (which `% parallelism` keeps)
 * as good as the high ones. Returns an unsigned integer in [0, 2^32).
 */
export function hashKey(key: unknown): number {
  const text = typeof key === 'string' ? key : keyString(key);
  const hash = hashUnits(text);
  // Strings are hashed as given and made well-formed only when a surrogate shows up (hashUnits
  // then returns -1, never a hash): checking every key with isWellFormed() costs as much as hashing.
  return hash >= 0 ? hash : hashUnits(text.isWellFormed() ? text : text.toWellFormed(), true);
}

/** FNV-1a over the code units, then the murmur3 finalizer; -1 on a surrogate unless `surrogatesChecked`. */
function hashUnits(text: string, surrogatesChecked = false): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if ((unit & 0xf800) === 0xd800 && !surrogatesChecked) return -1;
    hash = Math.imul(hash ^ unit, FNV_PRIME);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
