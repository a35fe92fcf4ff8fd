import { InvalidArgumentError, checkOptionKeys } from '../errors.js';
import { storedDeclarations, type StoredTableDeclaration, type TableDeclaration } from './declarations.js';
import { UnknownTableError } from './errors.js';
import { DEFAULT_MAX_PARALLELISM, checkMaxParallelism, keyGroupOf, keyGroupRange, type KeyGroupRange } from './key-groups.js';
import type { CommittedCheckpoint, PartitionChanges, PartitionExtent, PartitionWriter, RestoreSink, RestoreStats, StateStore } from './store.js';
import { Table, type CurrentEvent, type TableScope } from './table.js';
import { WindowedTable } from './windowed-table.js';

export type AnyTable<V = any> = Table<V> | WindowedTable<V>;

export interface StatePartitionOptions {
  readonly declarations: readonly TableDeclaration<any>[];
  /** This instance's index among `parallelism` instances of its keyed stage. */
  readonly index: number;
  readonly parallelism: number;
  readonly maxParallelism?: number;
  /** The partition's name in the store: stable for (stage, index), e.g. 'stage-2.0'. Default `p<index>`. */
  readonly name?: string;
  /** Wall-clock ms (tests pass their own). Default Date.now. */
  readonly clock?: () => number;
  /** Whether the tables remember their changes for checkpoints (TableScope.trackChanges). Default true; false without a store. */
  readonly trackChanges?: boolean;
}

const PARTITION_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const VALID_OPTIONS = ['declarations', 'index', 'parallelism', 'maxParallelism', 'name', 'clock', 'trackChanges'];

/**
 * The tables of one instance of a keyed stage: the key groups it owns, and nothing else. The
 * runtime makes one per instance, tells it which record is being processed (`beginRecord`), and at
 * each checkpoint barrier calls `checkpoint` (its values are captured before that returns).
 */
export class StatePartition {
  readonly name: string;
  readonly index: number;
  readonly parallelism: number;
  readonly maxParallelism: number;
  readonly range: KeyGroupRange;
  readonly declarations: readonly StoredTableDeclaration[];
  private readonly event: CurrentEvent = { record: undefined, ts: undefined, active: false };
  private readonly tables = new Map<string, AnyTable>();
  /** Set when a checkpoint's changes were taken but not written: the next one must be a full snapshot. */
  private mustWriteFull = false;

  constructor(options: StatePartitionOptions) {
    checkOptionKeys('StatePartition', options, VALID_OPTIONS);
    this.maxParallelism = options.maxParallelism ?? DEFAULT_MAX_PARALLELISM;
    checkMaxParallelism(this.maxParallelism);
    this.index = options.index;
    this.parallelism = options.parallelism;
    this.range = keyGroupRange(options.index, options.parallelism, this.maxParallelism);
    this.name = options.name ?? `p${options.index}`;
    if (!PARTITION_NAME.test(this.name)) throw new InvalidArgumentError(`a partition name is 1-100 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(this.name)}`);
    this.declarations = storedDeclarations(options.declarations);
    const scope: TableScope = {
      maxParallelism: this.maxParallelism,
      range: this.range,
      event: this.event,
      clock: options.clock ?? Date.now,
      trackChanges: options.trackChanges ?? true,
    };
    for (const d of options.declarations) this.tables.set(d.name, d.window ? new WindowedTable(d, scope) : new Table(d, scope));
  }

  /** A declared table by name. */
  table<V = any>(name: string): AnyTable<V> {
    const t = this.tables.get(name);
    if (!t) throw new UnknownTableError(name, [...this.tables.keys()]);
    return t as AnyTable<V>;
  }

  /** A declared plain table (refuses a windowed one). */
  plain<V = any>(name: string): Table<V> {
    const t = this.table<V>(name);
    if (t.windowed) throw new InvalidArgumentError(`table '${name}' is windowed; its values are read through get(key).current() and the like`);
    return t;
  }

  /** A declared windowed table (refuses a plain one). */
  windowed<V = any>(name: string): WindowedTable<V> {
    const t = this.table<V>(name);
    if (!t.windowed) throw new InvalidArgumentError(`table '${name}' is not windowed`);
    return t;
  }

  /** Whether this partition owns the key's key group. */
  ownsKey(key: unknown): boolean {
    const group = keyGroupOf(key, this.maxParallelism);
    return group >= this.range.start && group < this.range.end;
  }

  /** The record an operator is about to process: its value and timestamp (for windowed tables). */
  beginRecord(record: unknown, ts: number | undefined): void {
    this.event.record = record;
    this.event.ts = ts;
    this.event.active = true;
  }

  endRecord(): void {
    this.event.record = undefined;
    this.event.ts = undefined;
    this.event.active = false;
  }

  /** Moves every windowed table's time forward (a watermark), closing the windows that expire. */
  advanceTime(ts: number): void {
    for (const t of this.tables.values()) if (t.windowed) t.advanceTime(ts);
  }

  /** Every table's changes since the last checkpoint (or everything, `full`); starts a new epoch. */
  takeChanges(checkpointId: number, full: boolean): PartitionChanges {
    return {
      checkpointId,
      partition: this.name,
      keyGroups: this.range,
      full,
      tables: [...this.tables.values()].map((t) => t.takeChanges(full)),
    };
  }

  /**
   * At a checkpoint barrier: takes the changes (synchronously, so the operator may go on at once)
   * and writes them durably; the extent goes to the coordinator, which commits the checkpoint.
   */
  checkpoint(checkpointId: number, writer: PartitionWriter): Promise<PartitionExtent> {
    const changes = this.takeChanges(checkpointId, this.mustWriteFull || writer.wantsFull(this.liveEntries()));
    // Taking the changes emptied the dirty sets: if they do not reach the store, only a full snapshot is whole again.
    this.mustWriteFull = true;
    let written: Promise<PartitionExtent>;
    try {
      written = writer.write(changes);
    } catch (e) {
      return Promise.reject(e);
    }
    return written.then((extent) => {
      this.mustWriteFull = false;
      return extent;
    });
  }

  private liveEntries(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.entryCount;
    return n;
  }

  /** Entries per table (a windowed table counts one per key and live window). */
  entryCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, t] of this.tables) out[name] = t.entryCount;
    return out;
  }

  /**
   * Applies changes another partition took (`takeChanges`), as a restore would: how the main thread
   * gathers the instances' final tables. Keys outside this partition's key groups are kept too.
   */
  load(changes: PartitionChanges): void {
    for (const t of changes.tables) {
      const table = this.table(t.table);
      for (const g of t.groups) {
        if (table.windowed) {
          table.restorePut(g.putKeys, g.putValues, g.putWindows ?? []);
          table.restoreDelete(g.deleteKeys, g.deleteWindows ?? []);
        } else {
          table.restorePut(g.putKeys, g.putValues);
          table.restoreDelete(g.deleteKeys);
        }
      }
      if (table.windowed && t.time !== undefined) table.restoreTime(t.time);
    }
    for (const t of this.tables.values()) if (t.windowed) t.restoreDone();
  }

  /** Loads a committed checkpoint's entries of this partition's key groups (from whichever partitions wrote them). */
  restore(store: StateStore, checkpoint: CommittedCheckpoint): Promise<RestoreStats> {
    const tables = this.tables;
    const find = (name: string) => {
      const t = tables.get(name);
      if (!t) throw new UnknownTableError(name, [...tables.keys()]);
      return t;
    };
    const sink: RestoreSink = {
      put(table, _group, keys, values, windows) {
        const t = find(table);
        if (t.windowed) t.restorePut(keys, values, windows ?? []);
        else t.restorePut(keys, values);
      },
      delete(table, _group, keys, windows) {
        const t = find(table);
        if (t.windowed) t.restoreDelete(keys, windows ?? []);
        else t.restoreDelete(keys);
      },
      time(table, time) {
        const t = find(table);
        if (t.windowed) t.restoreTime(time);
      },
    };
    return store.restore(checkpoint, this.range, sink).then((stats) => {
      for (const t of tables.values()) if (t.windowed) t.restoreDone();
      return stats;
    });
  }
}
