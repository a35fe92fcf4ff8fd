import { hashKey, keyString } from '../codec/index.js';
import { CompactStringMap } from './compact-map.js';
import type { TableDeclaration } from './declarations.js';
import { TableKeyOwnershipError } from './errors.js';
import type { KeyGroupRange } from './key-groups.js';
import type { KeyGroupChanges, TableChanges } from './store.js';

/** The record an operator is processing, as the runtime sets it (tables read its time and fields). */
export interface CurrentEvent {
  /** The record's value, for `relativeTo(fn)`. */
  record: unknown;
  /** The record's timestamp (ms), for `relativeTo('stream')`; undefined when none is being processed. */
  ts: number | undefined;
  /** True while a record is being processed (set by the runtime around each operator call). */
  active: boolean;
}

/** What every table of one partition shares: who owns which keys, the current event, the clock. */
export interface TableScope {
  readonly maxParallelism: number;
  readonly range: KeyGroupRange;
  readonly event: CurrentEvent;
  /** Wall-clock ms, for `now()` and `relativeTo('now')`. */
  readonly clock: () => number;
  /**
   * Whether tables remember what was written for the next checkpoint. False where no store takes
   * checkpoints: nothing would ever clear the record (a windowed table's would grow with every
   * window it ever had), and `takeChanges` then gives every entry.
   */
  readonly trackChanges: boolean;
}

/** Puts and deletes bucketed by key group, for a checkpoint. */
export class KeyGroupBuckets {
  private readonly buckets: (KeyGroupChanges | undefined)[] = [];
  constructor(
    private readonly range: KeyGroupRange,
    private readonly windowed: boolean,
  ) {}

  private bucket(keyGroup: number): KeyGroupChanges {
    const at = keyGroup - this.range.start;
    let b = this.buckets[at];
    if (!b) {
      b = this.windowed
        ? { keyGroup, putKeys: [], putValues: [], putWindows: [], deleteKeys: [], deleteWindows: [] }
        : { keyGroup, putKeys: [], putValues: [], deleteKeys: [] };
      this.buckets[at] = b;
    }
    return b;
  }

  put(keyGroup: number, key: string, value: unknown, window?: number): void {
    const b = this.bucket(keyGroup);
    b.putKeys.push(key);
    b.putValues.push(value);
    if (window !== undefined) b.putWindows!.push(window);
  }

  delete(keyGroup: number, key: string, window?: number): void {
    const b = this.bucket(keyGroup);
    b.deleteKeys.push(key);
    if (window !== undefined) b.deleteWindows!.push(window);
  }

  groups(): KeyGroupChanges[] {
    return this.buckets.filter((b): b is KeyGroupChanges => b !== undefined);
  }
}

/** The hash of a canonical key (its key group is `hash % maxParallelism`), refusing a key this partition does not own. */
export function ownedKeyHash(scope: TableScope, table: string, key: string): number {
  const hash = hashKey(key);
  const group = hash % scope.maxParallelism;
  if (group < scope.range.start || group >= scope.range.end) throw new TableKeyOwnershipError(table, key, group, scope.range);
  return hash;
}

/**
 * One partition of a keyed table: the keys of the key groups this instance owns. Keys are
 * compared in their `keyString` form, as keyBy routes them (42, 42n and '42' are one key), and
 * `entries()` gives that form. A value changed in place must be `set` again (or changed through
 * `update`): the table records which keys were written (a bit on each entry), and a checkpoint
 * stores only those.
 * The keys live in a CompactStringMap (bytes in one arena: ~43 bytes a key like `user-123456`, a
 * Map takes ~61), hashed once per call with the `hashKey` that routes them.
 */
export class Table<V = unknown> {
  readonly name: string;
  readonly windowed = false;
  private readonly data = new CompactStringMap<V>();
  private readonly makeDefault: (() => V) | undefined;

  constructor(
    declaration: TableDeclaration<V>,
    private readonly scope: TableScope,
  ) {
    this.name = declaration.name;
    this.makeDefault = declaration.default;
  }

  /** The key's value; the default's value (not stored) when it has none. */
  get(key: unknown): V | undefined {
    const k = keyString(key);
    return this.data.getOr(k, hashKey(k), this.makeDefault);
  }

  has(key: unknown): boolean {
    const k = keyString(key);
    return this.data.has(k, hashKey(k));
  }

  set(key: unknown, value: V): void {
    const k = keyString(key);
    this.data.set(k, ownedKeyHash(this.scope, this.name, k), value, this.scope.trackChanges);
  }

  /** Removes the key; true if it had a value. */
  delete(key: unknown): boolean {
    const k = keyString(key);
    return this.data.delete(k, ownedKeyHash(this.scope, this.name, k), this.scope.trackChanges);
  }

  /** Sets the key to `fn(its value or the default)` and returns the new value. */
  update(key: unknown, fn: (value: V) => V): V {
    const k = keyString(key);
    const h = ownedKeyHash(this.scope, this.name, k);
    const next = fn(this.data.getOr(k, h, this.makeDefault) as V);
    this.data.set(k, h, next, this.scope.trackChanges);
    return next;
  }

  entries(): IterableIterator<[string, V]> {
    return this.data.entries();
  }

  keys(): IterableIterator<string> {
    return this.data.keys();
  }

  /** Bytes the keys take outside the JS heap (typed arrays), for memory accounting. */
  get externalBytes(): number {
    return this.data.externalBytes;
  }

  get size(): number {
    return this.data.size;
  }

  /** Entries held (as WindowedTable's entryCount). */
  get entryCount(): number {
    return this.data.size;
  }

  /** Entries changed since the last checkpoint (a key deleted and set again counts twice; 0 when changes are not tracked). */
  get dirtyCount(): number {
    return this.data.dirtyCount;
  }

  /** The changes since the last checkpoint (or every entry when `full`); starts a new epoch. */
  takeChanges(full: boolean): TableChanges {
    const buckets = new KeyGroupBuckets(this.scope.range, false);
    const maxParallelism = this.scope.maxParallelism;
    if (full || !this.scope.trackChanges) {
      this.data.forEach((v, k, h) => buckets.put(h % maxParallelism, k, v));
      this.data.clearDirty();
    } else {
      this.data.takeDirty((k, h, v, deleted) => (deleted ? buckets.delete(h % maxParallelism, k) : buckets.put(h % maxParallelism, k, v)));
    }
    return { table: this.name, groups: buckets.groups() };
  }

  /** @internal Restore: entries read from the store (already filtered to owned key groups). */
  restorePut(keys: readonly string[], values: ArrayLike<unknown>): void {
    for (let i = 0; i < keys.length; i++) this.data.set(keys[i]!, hashKey(keys[i]!), values[i] as V);
  }

  /** @internal */
  restoreDelete(keys: readonly string[]): void {
    for (const k of keys) this.data.delete(k, hashKey(k));
  }
}
