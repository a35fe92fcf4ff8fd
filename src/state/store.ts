import type { StoredTableDeclaration } from './declarations.js';
import type { KeyGroupRange } from './key-groups.js';

/**
 * What a store holds and how the runtime talks to it. A checkpoint is written in two steps: each
 * partition (one instance of a keyed stage, in its own worker) writes its changes durably with its
 * `PartitionWriter`; then one coordinator `commit`s the checkpoint, naming every partition's
 * extent and the sources' offsets, atomically. Recovery sees only committed checkpoints.
 */

/** The changes of one key group of one table: puts (key → value) and deletes. */
export interface KeyGroupChanges {
  readonly keyGroup: number;
  readonly putKeys: string[];
  readonly putValues: unknown[];
  /** Windowed tables: each put's window start. */
  readonly putWindows?: number[];
  readonly deleteKeys: string[];
  readonly deleteWindows?: number[];
}

export interface TableChanges {
  readonly table: string;
  /** Windowed tables: the table time (the latest timestamp it has seen). */
  readonly time?: number;
  readonly groups: KeyGroupChanges[];
}

/** What one partition hands its writer at a checkpoint barrier. */
export interface PartitionChanges {
  readonly checkpointId: number;
  readonly partition: string;
  readonly keyGroups: KeyGroupRange;
  /** Every entry (a snapshot) rather than what changed since the previous checkpoint. */
  readonly full: boolean;
  readonly tables: TableChanges[];
}

/** Where one partition's state as of a checkpoint lies: bytes [0, length) of one file. */
export interface PartitionExtent {
  readonly partition: string;
  readonly file: string;
  readonly length: number;
  readonly keyGroups: KeyGroupRange;
  readonly checkpointId: number;
}

export interface CommittedCheckpoint {
  readonly id: number;
  readonly committedAt: string;
  readonly partitions: readonly PartitionExtent[];
  /** Each source's position, as it gave it (opaque JSON). */
  readonly sources: Readonly<Record<string, unknown>>;
  /** Each transactional sink's prepared state for this checkpoint (opaque JSON), by sink name. */
  readonly sinks?: Readonly<Record<string, unknown>>;
}

/** Something recovery found and dealt with: it is said, never silent. */
export interface StateWarning {
  readonly code: 'STATE_TORN_TAIL' | 'STATE_UNCOMMITTED_DATA' | 'STATE_UNCOMMITTED_MANIFEST' | 'STATE_UNCOMMITTED_SEGMENT';
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
  readonly message: string;
}

export interface AppStateSpec {
  readonly appId: string;
  readonly maxParallelism: number;
  readonly tables: readonly StoredTableDeclaration[];
}

export interface OpenedState {
  /** The last committed checkpoint, or undefined for a fresh start. */
  readonly checkpoint: CommittedCheckpoint | undefined;
  readonly warnings: readonly StateWarning[];
}

/** Receives restored entries, in log order, already filtered to the key groups asked for. */
export interface RestoreSink {
  put(table: string, keyGroup: number, keys: readonly string[], values: ArrayLike<unknown>, windows: readonly number[] | undefined): void;
  delete(table: string, keyGroup: number, keys: readonly string[], windows: readonly number[] | undefined): void;
  time(table: string, time: number): void;
}

export interface RestoreStats {
  readonly files: number;
  readonly bytes: number;
  readonly puts: number;
  readonly deletes: number;
}

export interface PartitionWriter {
  /** True when the next write must be a full snapshot (no segment yet, or compaction is due: see SegmentFill); `liveEntries`: the partition's entries now. */
  wantsFull(liveEntries: number): boolean;
  /**
   * Writes the changes durably (fsync) and says where they are; not visible to recovery until a
   * commit names the extent. The values are encoded before this returns its promise, so the
   * caller may change its tables at once.
   */
  write(changes: PartitionChanges): Promise<PartitionExtent>;
  close(): Promise<void>;
}

export interface CheckpointCommit {
  readonly id: number;
  /** Every key group's partition; empty only for an app that declares no tables (sources and sinks alone). */
  readonly partitions: readonly PartitionExtent[];
  readonly sources: Readonly<Record<string, unknown>>;
  /** Transactional sinks' prepared state (what `SinkConnector.prepare` returned), stored with the checkpoint. */
  readonly sinks?: Readonly<Record<string, unknown>>;
}

export interface StateStore {
  /**
   * Checks the stored app against `spec` (a coded error when it differs) and finds the last
   * committed checkpoint. Call it once at startup, before any writer of the folder runs: it
   * removes what no committed checkpoint names.
   */
  open(spec: AppStateSpec): Promise<OpenedState>;
  writer(partition: string): PartitionWriter;
  /** Makes a checkpoint the one recovery finds, atomically. */
  commit(checkpoint: CheckpointCommit): Promise<CommittedCheckpoint>;
  /**
   * How a worker thread makes its own instance of this store, for `writer()` and `restore()` only
   * (the keyed stage's instances write their partitions from their threads): a module export that
   * takes `options` (structured-cloneable) and returns the instance. The FileStateStore needs none
   * (the runtime opens one of the same folder); any other store must give one to hold tables.
   */
  workerFactory?(): { module: string; export: string; options: unknown };
  /** Reads a committed checkpoint's entries of the key groups in `range`. */
  restore(checkpoint: CommittedCheckpoint, range: KeyGroupRange, sink: RestoreSink): Promise<RestoreStats>;
  close(): Promise<void>;
}
