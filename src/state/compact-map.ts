/**
 * A string-keyed map that holds its keys as bytes in one arena instead of one JS string each.
 *
 * Why: a `Map<string, V>` with 1 M short keys costs ~61 bytes a key on a 64-bit V8 (a heap
 * string of 32 bytes for an 11-character key, a 24-byte entry and its bucket), twice the size of
 * the data itself. Here a key costs its characters (one byte each while they are all ≤ U+00FF, two
 * otherwise), 9 bytes of entry (arena offset, hash, flags), a value slot and about 8 bytes of
 * open-addressing index: ~43 bytes for the same keys (measured: bench state), with no per-key object for the GC to trace.
 *
 * Layout (entry i, in insertion order):
 *   starts[i] .. starts[i + 1]   the key's bytes in `arena` (narrow: 1 byte a unit; wide: 2, little-endian)
 *   hashes[i]                    the caller's 32-bit hash of the key (as int32)
 *   flags[i]                     DELETED | WIDE | DIRTY
 *   values[i]                    the value (undefined once deleted)
 *   index[slot]                  entry + 1 for a live entry, 0 for an empty slot; linear probing
 *                                from `hash & mask`, deletes shift later entries back (no tombstones)
 *
 * The caller passes the hash (tables already compute `hashKey` for ownership), so a key is hashed
 * once per operation. Deleted entries stay in the arrays until more than half are dead; then the
 * live ones are copied down and open iterations are moved with them (iteration follows insertion
 * order and visits entries added meanwhile, as `Map`'s does).
 *
 * A write or delete may mark its entry DIRTY (tables do, for checkpoints): `takeDirty` then visits
 * exactly the keys changed since the last take, and a deleted entry is kept, out of the index,
 * until a take has reported its delete. Remembering a change costs one bit, not a set of keys.
 */

import { TableCapacityError } from './errors.js';

const DELETED = 1;
const WIDE = 2;
/** Written (or, with DELETED, deleted) since the last takeDirty/clearDirty: what a checkpoint writes. */
const DIRTY = 4;
const MIN_ENTRIES = 16;
const MIN_COMPACT = 1024;
/** Arena offsets are int32: past this the starts would wrap and keys would read wrong. */
const MAX_ARENA_BYTES = 2 ** 31 - 1;
const MAX_ENTRIES = 2 ** 30;

export interface CompactMapLimits {
  /** Key bytes at most (default 2^31 - 1: offsets are int32). */
  arenaBytes?: number;
  /** Entries at most, live and dead (default 2^30). */
  entries?: number;
  /** Dead entries past which (and past half of all) a delete compacts (default 1024). */
  minDeadToCompact?: number;
}

/** An open iteration's place: the next entry it will look at. */
interface Cursor {
  next: number;
}

export class CompactStringMap<V> {
  private readonly limits: Required<CompactMapLimits>;

  /** Limits (tests lower them to reach the refusals and the compactions). */
  constructor(limits: CompactMapLimits = {}) {
    this.limits = { arenaBytes: limits.arenaBytes ?? MAX_ARENA_BYTES, entries: limits.entries ?? MAX_ENTRIES, minDeadToCompact: limits.minDeadToCompact ?? MIN_COMPACT };
  }

  private arena = new Uint8Array(256);
  private starts = new Int32Array(MIN_ENTRIES + 1);
  private hashes = new Int32Array(MIN_ENTRIES);
  private flags = new Uint8Array(MIN_ENTRIES);
  private values: (V | undefined)[] = [];
  private index = new Int32Array(MIN_ENTRIES * 2);
  /** Entries written (live and deleted). */
  private count = 0;
  private live = 0;
  /** Entries flagged DIRTY, live or deleted. */
  private dirtyEntries = 0;
  /** Deleted entries kept for the delete a take will report. */
  private deadDirty = 0;
  /**
   * Where each open iteration is (the next entry it will look at), weakly held: compaction moves
   * them with the entries, so an iterator left unfinished (`entries().next()` for a first entry)
   * neither blocks compaction nor outlives its collection here.
   */
  private cursors: WeakRef<Cursor>[] = [];

  get size(): number {
    return this.live;
  }

  /** Entries changed since the last takeDirty / clearDirty (a key deleted and set again counts twice). */
  get dirtyCount(): number {
    return this.dirtyEntries;
  }

  /** Deleted entries kept until a take reports their delete. */
  get pendingDeletes(): number {
    return this.deadDirty;
  }

  /** Bytes held in typed arrays (outside the JS heap), for memory accounting. */
  get externalBytes(): number {
    return this.arena.byteLength + this.starts.byteLength + this.hashes.byteLength + this.flags.byteLength + this.index.byteLength;
  }

  get(key: string, hash: number): V | undefined {
    const e1 = this.index[this.slotOf(key, hash | 0)]!;
    return e1 === 0 ? undefined : this.values[e1 - 1];
  }

  /** The key's value, or `fallback()` (or undefined) when it has none: one probe, a stored undefined kept. */
  getOr(key: string, hash: number, fallback: (() => V) | undefined): V | undefined {
    const e1 = this.index[this.slotOf(key, hash | 0)]!;
    return e1 !== 0 ? this.values[e1 - 1] : fallback?.();
  }

  has(key: string, hash: number): boolean {
    return this.index[this.slotOf(key, hash | 0)] !== 0;
  }

  /** Sets the key's value; `dirty`: remember the change for takeDirty. */
  set(key: string, hash: number, value: V, dirty = false): void {
    const h = hash | 0;
    const index = this.index;
    const slot = this.slotOf(key, h);
    const e1 = index[slot]!;
    if (e1 !== 0) {
      this.values[e1 - 1] = value;
      if (dirty && (this.flags[e1 - 1]! & DIRTY) === 0) {
        this.flags[e1 - 1]! |= DIRTY;
        this.dirtyEntries++;
      }
      return;
    }
    const e = this.append(key, h, value);
    if (dirty) {
      this.flags[e]! |= DIRTY;
      this.dirtyEntries++;
    }
    index[slot] = e + 1;
    this.live++;
    if (this.live * 2 > index.length) this.rebuildIndex(index.length * 2);
  }

  /** Removes the key; true if it was present. `dirty`: remember the delete for takeDirty. */
  delete(key: string, hash: number, dirty = false): boolean {
    const index = this.index;
    const mask = index.length - 1;
    const slot = this.slotOf(key, hash | 0);
    const e1 = index[slot]!;
    if (e1 === 0) return false;
    const e = e1 - 1;
    if (dirty && (this.flags[e]! & DIRTY) === 0) this.dirtyEntries++;
    if (dirty) this.flags[e]! |= DIRTY;
    this.flags[e]! |= DELETED;
    if ((this.flags[e]! & DIRTY) !== 0) this.deadDirty++;
    this.values[e] = undefined;
    this.live--;
    // Backward-shift: move later entries of the probe run into the hole when that keeps them
    // reachable from their home slot.
    let hole = slot;
    for (let next = (hole + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
      const home = this.hashes[index[next]! - 1]! & mask;
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        index[hole] = index[next]!;
        hole = next;
      }
    }
    index[hole] = 0;
    this.compactIfMostlyDead();
    return true;
  }

  /**
   * Visits each key changed since the last take, once, in insertion order: `deleted` when it is
   * gone now (a key deleted and set again is visited as set), and forgets the changes. `visit`
   * must not change this map. `hash` is the one given at the write.
   */
  takeDirty(visit: (key: string, hash: number, value: V | undefined, deleted: boolean) => void): void {
    if (this.dirtyEntries === 0) return;
    const flags = this.flags;
    let reported: Set<string> | undefined;
    for (let e = 0; e < this.count; e++) {
      const f = flags[e]!;
      if ((f & DIRTY) === 0) continue;
      flags[e] = f & ~DIRTY;
      const key = this.keyAt(e);
      const h = this.hashes[e]!;
      if ((f & DELETED) === 0) {
        visit(key, h >>> 0, this.values[e], false);
        continue;
      }
      this.deadDirty--;
      // Set again after its delete: the live entry reports it. Deleted twice: reported once.
      if (this.index[this.slotOf(key, h)] !== 0) continue;
      reported ??= new Set();
      if (reported.has(key)) continue;
      reported.add(key);
      visit(key, h >>> 0, undefined, true);
    }
    this.dirtyEntries = 0;
    this.compactIfMostlyDead();
  }

  /** Forgets the changes without visiting them (a full snapshot carries every entry instead). */
  clearDirty(): void {
    if (this.dirtyEntries === 0) return;
    const flags = this.flags;
    for (let e = 0; e < this.count; e++) flags[e]! &= ~DIRTY;
    this.dirtyEntries = 0;
    this.deadDirty = 0;
    this.compactIfMostlyDead();
  }

  /** Compacts once the dead entries no take still needs outnumber the rest. */
  private compactIfMostlyDead(): void {
    const dead = this.count - this.live - this.deadDirty;
    if (dead > this.limits.minDeadToCompact && dead * 2 > this.count) this.compact();
  }

  /** Calls `fn` for each live entry in insertion order (no iterator objects: checkpoints walk every key); `hash` is the one given at the write. */
  forEach(fn: (value: V, key: string, hash: number) => void): void {
    const cursor = this.openCursor();
    try {
      while (cursor.next < this.count) {
        const e = cursor.next++;
        if ((this.flags[e]! & DELETED) === 0) fn(this.values[e] as V, this.keyAt(e), this.hashes[e]! >>> 0);
      }
    } finally {
      this.closeCursor(cursor);
    }
  }

  *entries(): Generator<[string, V], void, undefined> {
    const cursor = this.openCursor();
    try {
      while (cursor.next < this.count) {
        const e = cursor.next++;
        if ((this.flags[e]! & DELETED) === 0) yield [this.keyAt(e), this.values[e] as V];
      }
    } finally {
      this.closeCursor(cursor);
    }
  }

  *keys(): Generator<string, void, undefined> {
    for (const [key] of this.entries()) yield key;
  }

  [Symbol.iterator](): Generator<[string, V], void, undefined> {
    return this.entries();
  }

  private openCursor(): Cursor {
    const cursor = { next: 0 };
    // Drop the cursors of iterators collected unfinished, now and then.
    if (this.cursors.length >= 32) this.cursors = this.cursors.filter((ref) => ref.deref() !== undefined);
    this.cursors.push(new WeakRef(cursor));
    return cursor;
  }

  private closeCursor(cursor: Cursor): void {
    const at = this.cursors.findIndex((ref) => ref.deref() === cursor);
    if (at >= 0) this.cursors.splice(at, 1);
  }

  /** The index slot holding the key (linear probing from `h & mask`), or the empty slot where it would go. */
  private slotOf(key: string, h: number): number {
    const index = this.index;
    const mask = index.length - 1;
    let slot = h & mask;
    for (let e1 = index[slot]!; e1 !== 0; slot = (slot + 1) & mask, e1 = index[slot]!) {
      if (this.hashes[e1 - 1] === h && this.keyEquals(e1 - 1, key)) break;
    }
    return slot;
  }

  private keyEquals(e: number, key: string): boolean {
    const arena = this.arena;
    const start = this.starts[e]!;
    const bytes = this.starts[e + 1]! - start;
    if ((this.flags[e]! & WIDE) === 0) {
      if (bytes !== key.length) return false;
      for (let i = 0; i < bytes; i++) if (arena[start + i] !== key.charCodeAt(i)) return false;
      return true;
    }
    if (bytes !== key.length * 2) return false;
    for (let i = 0, p = start; i < key.length; i++, p += 2) if ((arena[p]! | (arena[p + 1]! << 8)) !== key.charCodeAt(i)) return false;
    return true;
  }

  private keyAt(e: number): string {
    const arena = this.arena;
    const start = this.starts[e]!;
    const end = this.starts[e + 1]!;
    let s = '';
    if ((this.flags[e]! & WIDE) === 0) {
      if (end - start <= 24) {
        // Four units a call: ~3× faster for short keys than one a call or apply() on a subarray.
        let p = start;
        for (; p + 4 <= end; p += 4) s += String.fromCharCode(arena[p]!, arena[p + 1]!, arena[p + 2]!, arena[p + 3]!);
        for (; p < end; p++) s += String.fromCharCode(arena[p]!);
        return s;
      }
      for (let p = start; p < end; p += 4096) s += String.fromCharCode.apply(null, arena.subarray(p, Math.min(end, p + 4096)) as unknown as number[]);
      return s;
    }
    const units: number[] = [];
    for (let p = start; p < end; p += 2) {
      units.push(arena[p]! | (arena[p + 1]! << 8));
      if (units.length === 4096) {
        s += String.fromCharCode.apply(null, units);
        units.length = 0;
      }
    }
    return s + String.fromCharCode.apply(null, units);
  }

  /** Writes a new entry at the end; returns its number. */
  private append(key: string, h: number, value: V): number {
    const e = this.count;
    if (e === this.hashes.length) {
      if (e >= this.limits.entries) throw new TableCapacityError(`${e} entries`);
      this.growEntries(Math.min(e * 2, this.limits.entries));
    }
    let wide = false;
    for (let i = 0; i < key.length; i++) {
      if (key.charCodeAt(i) > 0xff) {
        wide = true;
        break;
      }
    }
    const bytes = wide ? key.length * 2 : key.length;
    let at = this.starts[e]!;
    if (at + bytes > this.arena.length) this.growArena(at + bytes);
    const arena = this.arena;
    if (wide) {
      for (let i = 0; i < key.length; i++, at += 2) {
        const unit = key.charCodeAt(i);
        arena[at] = unit & 0xff;
        arena[at + 1] = unit >>> 8;
      }
    } else {
      for (let i = 0; i < key.length; i++) arena[at++] = key.charCodeAt(i);
    }
    this.starts[e + 1] = at;
    this.hashes[e] = h;
    this.flags[e] = wide ? WIDE : 0;
    this.values[e] = value;
    this.count = e + 1;
    return e;
  }

  private growEntries(capacity: number): void {
    const starts = new Int32Array(capacity + 1);
    starts.set(this.starts.subarray(0, this.count + 1));
    this.starts = starts;
    const hashes = new Int32Array(capacity);
    hashes.set(this.hashes.subarray(0, this.count));
    this.hashes = hashes;
    const flags = new Uint8Array(capacity);
    flags.set(this.flags.subarray(0, this.count));
    this.flags = flags;
  }

  /** Grows by half (not doubling): the arena is most of the memory, and copies are rare. */
  private growArena(needed: number): void {
    if (needed > this.limits.arenaBytes) throw new TableCapacityError(`its keys would take ${needed} bytes, past ${this.limits.arenaBytes}`);
    let size = this.arena.length;
    while (size < needed) size = Math.min(Math.ceil(size * 1.5), this.limits.arenaBytes);
    const arena = new Uint8Array(size);
    arena.set(this.arena.subarray(0, this.starts[this.count]!));
    this.arena = arena;
  }

  private rebuildIndex(slots: number): void {
    const index = new Int32Array(slots);
    const mask = slots - 1;
    for (let e = 0; e < this.count; e++) {
      if ((this.flags[e]! & DELETED) !== 0) continue;
      let slot = this.hashes[e]! & mask;
      while (index[slot] !== 0) slot = (slot + 1) & mask;
      index[slot] = e + 1;
    }
    this.index = index;
  }

  /** Copies the live entries down over the dead ones (insertion order kept), then re-indexes. */
  private compact(): void {
    const { arena, starts, hashes, flags, values } = this;
    // Open iterations, by position: a cursor at old entry p moves to the number of live entries before p.
    const cursors: Cursor[] = [];
    for (const ref of this.cursors) {
      const cursor = ref.deref();
      if (cursor) cursors.push(cursor);
    }
    this.cursors = cursors.map((cursor) => new WeakRef(cursor));
    cursors.sort((a, b) => a.next - b.next);
    let c = 0;
    let to = 0;
    let at = 0;
    for (let e = 0; e < this.count; e++) {
      for (; c < cursors.length && cursors[c]!.next <= e; c++) cursors[c]!.next = to;
      // A deleted entry stays while a take has yet to report its delete.
      if ((flags[e]! & (DELETED | DIRTY)) === DELETED) continue;
      const start = starts[e]!;
      const end = starts[e + 1]!;
      arena.copyWithin(at, start, end);
      starts[to] = at;
      at += end - start;
      hashes[to] = hashes[e]!;
      flags[to] = flags[e]!;
      values[to] = values[e];
      to++;
    }
    for (; c < cursors.length; c++) cursors[c]!.next = to;
    // Give back an arena that is now mostly empty.
    if (at * 4 < arena.length && arena.length > 256) this.arena = arena.slice(0, Math.max(256, Math.ceil(at * 1.5)));
    starts[to] = at;
    values.length = to;
    this.count = to;
    let capacity = MIN_ENTRIES;
    while (capacity < to * 2) capacity *= 2;
    if (capacity < hashes.length) this.growEntries(capacity);
    let slots = MIN_ENTRIES * 2;
    while (slots < to * 2) slots *= 2;
    this.rebuildIndex(slots);
  }
}
