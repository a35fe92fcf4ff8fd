import { hashKey, keyString } from '../codec/index.js';
import { CompactStringMap } from './compact-map.js';
import type { TableDeclaration, WindowSpec } from './declarations.js';
import { WindowCloseHandlerError, WindowTimestampError } from './errors.js';
import { KeyGroupBuckets, ownedKeyHash, type TableScope } from './table.js';
import type { TableChanges } from './store.js';

/** Which time a windowed table's reads and writes use (Faust's relative_to). */
export type Relativity = 'stream' | 'now' | ((record: any) => number);

/** A window's time range: [start, end). */
export interface WindowRange {
  readonly start: number;
  readonly end: number;
}

export type WindowCloseHandler<V> = (key: string, value: V, window: WindowRange) => void;

/** The state every view of one windowed table shares (views differ only in their relativity). */
class WindowState<V> {
  /** Window start → key → value (keys hashed with hashKey, as in Table). */
  readonly windows = new Map<number, CompactStringMap<V>>();
  /** Windows closed since the last checkpoint, kept (when changes are tracked) for the deletes it writes. */
  closed = new Map<number, CompactStringMap<V>>();
  /** Table time: the latest timestamp the table has seen (writes and `advanceTime`). */
  time = -Infinity;
  /** The earliest time at which some window closes. */
  nextCloseAt = Infinity;
  readonly handlers: WindowCloseHandler<V>[] = [];
  /** Writes that fell only in windows already closed (dropped). */
  lateWrites = 0;
  closedWindows = 0;
  // The window last looked up: records come in time order mostly, so most writes and reads hit it
  // (window starts are ms since the epoch, doubles, which a Map hashes on every get).
  private lastStart = NaN;
  private last: CompactStringMap<V> | undefined;

  /** The live window starting at `start`, if any. */
  window(start: number): CompactStringMap<V> | undefined {
    if (start === this.lastStart && this.last !== undefined) return this.last;
    const w = this.windows.get(start);
    if (w !== undefined) {
      this.lastStart = start;
      this.last = w;
    }
    return w;
  }

  /** Drops a window (closed, or emptied by a restore). */
  drop(start: number): void {
    this.windows.delete(start);
    if (start === this.lastStart) this.last = undefined;
  }
}

/**
 * A windowed table (Faust's WindowWrapper): a key has one value per window. A write lands in every
 * window its timestamp falls in; a read picks the newest window holding the timestamp. A window
 * closes once table time reaches its end plus `expiresMs`: its handlers run and it is dropped, so
 * memory holds only live windows; writes to a closed window are dropped.
 */
export class WindowedTable<V = unknown> {
  readonly name: string;
  readonly windowed = true;
  readonly window: WindowSpec;
  private readonly makeDefault: (() => V) | undefined;

  constructor(
    private readonly declaration: TableDeclaration<V>,
    private readonly scope: TableScope,
    private readonly relativity: Relativity = 'stream',
    private readonly state: WindowState<V> = new WindowState<V>(),
  ) {
    this.name = declaration.name;
    this.window = declaration.window!;
    this.makeDefault = declaration.default;
    if (relativity !== 'stream' && relativity !== 'now' && typeof relativity !== 'function') {
      throw new WindowTimestampError(this.name, `relativeTo takes 'stream', 'now' or a function of the record, got ${String(relativity)}`);
    }
  }

  /** A view of the same table whose times come from `relativity`. */
  relativeTo(relativity: Relativity): WindowedTable<V> {
    return new WindowedTable(this.declaration, this.scope, relativity, this.state);
  }

  /** Table time (ms), or -Infinity before the first write. */
  get time(): number {
    return this.state.time;
  }

  /** Wall-clock ms. */
  clockNow(): number {
    return this.scope.clock();
  }

  /** The timestamp this view's reads and writes use now. */
  timestamp(): number {
    const { event } = this.scope;
    const r = this.relativity;
    let ts: unknown;
    if (r === 'now') ts = this.scope.clock();
    else if (!event.active) {
      // Outside a record (e.g. reading after the job): table time.
      if (this.state.time === -Infinity) throw new WindowTimestampError(this.name, 'no record is being processed and the table has seen no time yet');
      ts = this.state.time;
    } else if (r === 'stream') ts = event.ts;
    else ts = r(event.record);
    if (typeof ts !== 'number' || !Number.isFinite(ts)) {
      throw new WindowTimestampError(this.name, `the ${typeof r === 'function' ? 'relativeTo function' : `'${r}' time`} gave ${String(ts)}, not a finite number of ms`);
    }
    return ts;
  }

  /** Starts of the windows a timestamp falls in, newest first. */
  windowStarts(ts: number): number[] {
    const { sizeMs, stepMs } = this.window;
    const out: number[] = [];
    for (let start = this.newestStart(ts); start > ts - sizeMs; start -= stepMs) out.push(start);
    return out;
  }

  /** The newest window holding `ts`. */
  windowAt(ts: number): WindowRange {
    const start = this.newestStart(ts);
    return { start, end: start + this.window.sizeMs };
  }

  /** Where the newest window holding `ts` starts. */
  private newestStart(ts: number): number {
    return Math.floor(ts / this.window.stepMs) * this.window.stepMs;
  }

  /** The key's windowed value: `.current()`, `.now()`, `.value(ts)`, `.delta(ms)`. */
  get(key: unknown): WindowSet<V> {
    const k = keyString(key);
    return new WindowSet(this, k, hashKey(k));
  }

  /** Whether the key has a value in the newest window holding this view's timestamp. */
  has(key: unknown): boolean {
    const k = keyString(key);
    return this.state.windows.get(this.windowAt(this.timestamp()).start)?.has(k, hashKey(k)) ?? false;
  }

  /** @internal The key's value in the newest window holding `ts` (the default when it has none); `hash` is hashKey(key). */
  valueAt(key: string, hash: number, ts: number): V | undefined {
    const w = this.state.window(this.newestStart(ts));
    return w ? w.getOr(key, hash, this.makeDefault) : this.makeDefault?.();
  }

  /** Sets the key in every window this view's timestamp falls in. */
  set(key: unknown, value: V): void {
    this.write(key, () => value);
  }

  /** Sets the key, in every window this view's timestamp falls in, to `fn(its value there or the default)`. */
  update(key: unknown, fn: (value: V) => V): void {
    this.write(key, fn);
  }

  /** Removes the key from every window this view's timestamp falls in. */
  delete(key: unknown): void {
    const k = keyString(key);
    const h = ownedKeyHash(this.scope, this.name, k);
    const ts = this.timestamp();
    const failure = this.advance(ts);
    for (const start of this.windowStarts(ts)) this.state.windows.get(start)?.delete(k, h, this.scope.trackChanges);
    if (failure) throw failure;
  }

  private write(key: unknown, fn: (value: V) => V): void {
    const k = keyString(key);
    const h = ownedKeyHash(this.scope, this.name, k);
    const ts = this.timestamp();
    const failure = this.advance(ts);
    const st = this.state;
    const { sizeMs, stepMs, expiresMs } = this.window;
    let landed = false;
    // The windows holding ts, newest first (as windowStarts, without an array per write).
    for (let start = this.newestStart(ts); start > ts - sizeMs; start -= stepMs) {
      const closeAt = start + sizeMs + expiresMs;
      if (closeAt <= st.time) continue;
      let w = st.window(start);
      if (!w) {
        w = new CompactStringMap();
        st.windows.set(start, w);
        if (closeAt < st.nextCloseAt) st.nextCloseAt = closeAt;
      }
      w.set(k, h, fn(w.getOr(k, h, this.makeDefault) as V), this.scope.trackChanges);
      landed = true;
    }
    if (!landed) st.lateWrites++;
    if (failure) throw failure;
  }

  /** [key, value] of the newest window holding this view's timestamp. */
  *entries(): IterableIterator<[string, V]> {
    const w = this.state.windows.get(this.windowAt(this.timestamp()).start);
    if (w) yield* w.entries();
  }

  /** Every live window's entries, oldest window first. */
  *windows(): IterableIterator<{ key: string; value: V; window: WindowRange }> {
    const starts = [...this.state.windows.keys()].sort((a, b) => a - b);
    for (const start of starts) {
      const window = { start, end: start + this.window.sizeMs };
      for (const [key, value] of this.state.windows.get(start)!) yield { key, value, window };
    }
  }

  /** How many windows are live (memory is bounded by this times the keys in each). */
  get windowCount(): number {
    return this.state.windows.size;
  }

  /** Entries held: one per (key, live window). */
  get entryCount(): number {
    let n = 0;
    for (const w of this.state.windows.values()) n += w.size;
    return n;
  }

  /** Every (key, window, value) held, oldest window first. */
  *windowEntries(): IterableIterator<[string, V, WindowRange]> {
    const starts = [...this.state.windows.keys()].sort((a, b) => a - b);
    for (const start of starts) {
      const range = { start, end: start + this.window.sizeMs };
      for (const [k, v] of this.state.windows.get(start)!) yield [k, v, range];
    }
  }

  /** (key, window) entries changed since the last checkpoint, the entries of windows closed since then included. */
  get dirtyCount(): number {
    let n = 0;
    for (const w of this.state.windows.values()) n += w.dirtyCount;
    for (const w of this.state.closed.values()) n += w.size + w.pendingDeletes;
    return n;
  }

  get lateWrites(): number {
    return this.state.lateWrites;
  }

  /** Runs `handler(key, value, window)` for every key of a window as it closes. */
  onWindowClose(handler: WindowCloseHandler<V>): void {
    if (typeof handler !== 'function') throw new WindowTimestampError(this.name, 'onWindowClose takes a function (key, value, window) => void');
    this.state.handlers.push(handler);
  }

  /** Moves table time forward (e.g. to a watermark), closing the windows that expire by then. */
  advanceTime(ts: number): void {
    const failure = this.advance(ts);
    if (failure) throw failure;
  }

  /** Advances table time; closes expired windows; returns (not throws) a handler's failure. */
  private advance(ts: number): WindowCloseHandlerError | undefined {
    const st = this.state;
    if (!(ts > st.time)) return undefined;
    st.time = ts;
    if (ts < st.nextCloseAt) return undefined;
    const { sizeMs, expiresMs } = this.window;
    const closing: number[] = [];
    let next = Infinity;
    for (const start of st.windows.keys()) {
      const closeAt = start + sizeMs + expiresMs;
      if (closeAt <= ts) closing.push(start);
      else if (closeAt < next) next = closeAt;
    }
    st.nextCloseAt = next;
    closing.sort((a, b) => a - b);
    let failure: WindowCloseHandlerError | undefined;
    for (const start of closing) {
      const w = st.windows.get(start)!;
      st.drop(start);
      st.closedWindows++;
      // Stored entries of a closed window are deleted at the next checkpoint.
      if (this.scope.trackChanges) st.closed.set(start, w);
      const range = { start, end: start + sizeMs };
      for (const [key, value] of w) {
        for (const handler of st.handlers) {
          try {
            handler(key, value, range);
          } catch (e) {
            failure ??= new WindowCloseHandlerError(this.name, e);
          }
        }
      }
    }
    return failure;
  }

  /** @internal The changes since the last checkpoint (or every live entry when `full`); starts a new epoch. */
  takeChanges(full: boolean): TableChanges {
    const st = this.state;
    const buckets = new KeyGroupBuckets(this.scope.range, true);
    const maxParallelism = this.scope.maxParallelism;
    if (full || !this.scope.trackChanges) {
      for (const [start, w] of st.windows) {
        w.forEach((v, k, h) => buckets.put(h % maxParallelism, k, v, start));
        w.clearDirty();
      }
    } else {
      for (const [start, w] of st.windows) {
        w.takeDirty((k, h, v, deleted) => (deleted ? buckets.delete(h % maxParallelism, k, start) : buckets.put(h % maxParallelism, k, v, start)));
      }
      for (const [start, w] of st.closed) {
        w.forEach((_, k, h) => buckets.delete(h % maxParallelism, k, start));
        // Keys deleted from it before it closed (and not set again) are deletes too.
        w.takeDirty((k, h, _, deleted) => deleted && buckets.delete(h % maxParallelism, k, start));
      }
    }
    st.closed = new Map();
    return { table: this.name, time: st.time === -Infinity ? undefined : st.time, groups: buckets.groups() };
  }

  /** @internal */
  restorePut(keys: readonly string[], values: ArrayLike<unknown>, windows: readonly number[]): void {
    const st = this.state;
    for (let i = 0; i < keys.length; i++) {
      const start = windows[i]!;
      let w = st.windows.get(start);
      if (!w) st.windows.set(start, (w = new CompactStringMap()));
      w.set(keys[i]!, hashKey(keys[i]!), values[i] as V);
    }
  }

  /** @internal */
  restoreDelete(keys: readonly string[], windows: readonly number[]): void {
    const st = this.state;
    for (let i = 0; i < keys.length; i++) {
      const w = st.windows.get(windows[i]!);
      if (w && w.delete(keys[i]!, hashKey(keys[i]!)) && w.size === 0) st.drop(windows[i]!);
    }
  }

  /** @internal After a restore: table time (the latest of the restored partitions'), and when the next window closes. */
  restoreTime(time: number): void {
    const st = this.state;
    if (time > st.time) st.time = time;
  }

  /** @internal */
  restoreDone(): void {
    const st = this.state;
    const { sizeMs, expiresMs } = this.window;
    st.nextCloseAt = Infinity;
    for (const [start, w] of st.windows) {
      if (w.size === 0) st.drop(start);
      else st.nextCloseAt = Math.min(st.nextCloseAt, start + sizeMs + expiresMs);
    }
  }
}

/** One key of a windowed table (Faust's WindowSet): its value in the window a time picks. */
export class WindowSet<V> {
  constructor(
    private readonly table: WindowedTable<V>,
    readonly key: string,
    /** hashKey(key), computed once for every read. */
    private readonly hash: number,
  ) {}

  /** In the newest window holding the table view's timestamp (the record's, per relativeTo). */
  current(): V | undefined {
    return this.table.valueAt(this.key, this.hash, this.table.timestamp());
  }

  /** In the newest window holding the wall clock's now. */
  now(): V | undefined {
    return this.table.valueAt(this.key, this.hash, this.table.clockNow());
  }

  /** In the newest window holding `ts`. */
  value(ts: number): V | undefined {
    return this.table.valueAt(this.key, this.hash, ts);
  }

  /** In the newest window holding the view's timestamp minus `ms` (e.g. the previous window: delta(size)). */
  delta(ms: number): V | undefined {
    return this.table.valueAt(this.key, this.hash, this.table.timestamp() - ms);
  }
}
