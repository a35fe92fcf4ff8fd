import { hashKey } from '../codec/index.js';
import { InvalidArgumentError } from '../errors.js';

/**
 * Key groups, as Flink has them: a key belongs to one of `maxParallelism` key groups (its stable
 * `hashKey` modulo maxParallelism), and each instance of a keyed stage owns one contiguous range
 * of key groups. State is stored per key group, so a job restored with another parallelism hands
 * whole key groups to their new owners; the number of key groups is fixed for the life of the
 * state (it is checked on restore).
 *
 * keyBy must route with the same functions: a record goes to
 * `instanceForKeyGroup(keyGroupOfHash(hashKey(key), maxParallelism), parallelism, maxParallelism)`,
 * which is the instance whose `keyGroupRange` holds the key's group.
 */

export const DEFAULT_MAX_PARALLELISM = 128;
/** Key groups are stored in 16-bit fields. */
export const MAX_KEY_GROUPS = 0x8000;

/** The key groups [start, end) one instance owns. */
export interface KeyGroupRange {
  readonly start: number;
  readonly end: number;
}

export function checkMaxParallelism(maxParallelism: number): void {
  if (!Number.isInteger(maxParallelism) || maxParallelism < 1 || maxParallelism > MAX_KEY_GROUPS) {
    throw new InvalidArgumentError(`maxParallelism must be an integer in 1..${MAX_KEY_GROUPS}, got ${maxParallelism}`);
  }
}

export function checkParallelism(parallelism: number, maxParallelism: number): void {
  if (!Number.isInteger(parallelism) || parallelism < 1 || parallelism > maxParallelism) {
    throw new InvalidArgumentError(`a keyed stage's parallelism must be an integer in 1..maxParallelism (${maxParallelism}), got ${parallelism}`);
  }
}

/** The key group of a `hashKey` value (e.g. an Envelope's key_hash, so no key is hashed twice). */
export function keyGroupOfHash(hash: number, maxParallelism: number): number {
  return hash % maxParallelism;
}

/** The key group of a key (compared as `keyString` forms: 42, 42n and '42' are one key). */
export function keyGroupOf(key: unknown, maxParallelism: number): number {
  return hashKey(key) % maxParallelism;
}

/** The key groups instance `index` of `parallelism` owns: contiguous, disjoint, covering them all. */
export function keyGroupRange(index: number, parallelism: number, maxParallelism: number): KeyGroupRange {
  checkParallelism(parallelism, maxParallelism);
  if (!Number.isInteger(index) || index < 0 || index >= parallelism) {
    throw new InvalidArgumentError(`instance index must be an integer in 0..${parallelism - 1}, got ${index}`);
  }
  return {
    start: Math.ceil((index * maxParallelism) / parallelism),
    end: Math.ceil(((index + 1) * maxParallelism) / parallelism),
  };
}

/** The instance that owns a key group: the inverse of `keyGroupRange`. */
export function instanceForKeyGroup(keyGroup: number, parallelism: number, maxParallelism: number): number {
  return Math.floor((keyGroup * parallelism) / maxParallelism);
}

/** The instance that owns a key: what keyBy's 'hash' routing must return. */
export function instanceForKey(key: unknown, parallelism: number, maxParallelism = DEFAULT_MAX_PARALLELISM): number {
  return instanceForKeyGroup(keyGroupOf(key, maxParallelism), parallelism, maxParallelism);
}
