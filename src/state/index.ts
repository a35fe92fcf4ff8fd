/**
 * ringflow/state: keyed state (Faust's tables and windowed tables), partitioned by key groups
 * (Flink's), checkpointed into a StateStore (the embedded FileStateStore by default).
 *
 * How the stream runtime uses it (src/stream/runtime: routing.ts, stage-state.ts, stateful-run.ts):
 *
 * 1. Routing. keyBy's 'hash' partition sends a key to the instance owning its key group:
 *    src/stream/runtime/routing.ts's `Router.route` returns `instanceForKeyGroup(keyGroupOfHash(hashKey(key), maxParallelism), targets,
 *    maxParallelism)` (`instanceForKey(key, targets, maxParallelism)`), with `maxParallelism`
 *    (default 128, fixed for a state's life) passed to the Router from the job's options; the
 *    planner must refuse a keyed stage whose parallelism exceeds it. Sources and workers share
 *    Router, so both sides agree. An Envelope's key_hash is `hashKey(key)`: a reader can route
 *    on it without hashing again.
 * 2. Startup (main thread, before any worker runs): `store.open({ appId, maxParallelism, tables })`
 *    (coded errors for another app or changed tables); its `checkpoint` (if any) goes to every
 *    worker with the sources' offsets; each keyed instance makes a `StatePartition` ({ index,
 *    parallelism, name: '<stage>.<index>' }) and awaits `partition.restore(store, checkpoint)`
 *    (it reads only its key groups, from whichever old partitions hold them, so a different
 *    parallelism re-partitions); replayable sources seek to `checkpoint.sources[name]`. Warnings
 *    (torn tail, uncommitted data) go to the job's error/log channel, never dropped.
 * 3. Per record: `partition.beginRecord(value, ts)` before the operator runs (ctx.table(name) →
 *    `partition.table(name)`), `endRecord()` after; a watermark → `partition.advanceTime(wm)`.
 * 4. Checkpoint N (every checkpointIntervalMs): sources record their offset and emit barrier N;
 *    a stage aligns barrier N on all its inputs, then calls `partition.checkpoint(N, writer)`
 *    (changes are captured synchronously; the operator may go on) and forwards the barrier; the
 *    resulting PartitionExtent goes to the main thread. When every instance's extent and every
 *    source's offset for N are in, the main thread calls `store.commit({ id: N, partitions,
 *    sources })`; only then is N durable (transactional sinks commit their N output then). A
 *    StateDiskFullError / StateIOError from a write or the commit fails the job; the last
 *    committed checkpoint stays intact. One checkpoint at a time: N+1 starts after N committed.
 * 5. A worker that crashes (`restart: { maxRestarts }`): roll the whole job back to the last
 *    committed checkpoint, not just that instance (others and the sources are past it): every
 *    keyed instance gets a fresh StatePartition and restores, replayable sources seek to their
 *    checkpointed offsets, transactional sinks drop their uncommitted output. A writer's first
 *    write is a full snapshot into a new segment, so no old segment is appended to.
 * 6. Declarations reach workers as data: `{ name, window }` (`declaration.stored()`) plus the
 *    `default` factory's source text, rebuilt there into TableDeclarations (operators capture
 *    nothing, and neither may a default factory). `store.open` runs once, on the main thread,
 *    before any worker writes (it removes segments no committed checkpoint names); workers make
 *    their own FileStateStore of the same folder for `writer()` and `restore()` only.
 */
export {
  DEFAULT_MAX_PARALLELISM,
  MAX_KEY_GROUPS,
  keyGroupOf,
  keyGroupOfHash,
  keyGroupRange,
  instanceForKeyGroup,
  instanceForKey,
  checkParallelism,
  checkMaxParallelism,
} from './key-groups.js';
export type { KeyGroupRange } from './key-groups.js';
export { TableDeclaration, storedDeclarations, declarationDifferences } from './declarations.js';
export type { TableOptions, WindowOptions, WindowSpec, StoredTableDeclaration } from './declarations.js';
export { Table } from './table.js';
export type { CurrentEvent, TableScope } from './table.js';
export { WindowedTable, WindowSet } from './windowed-table.js';
export type { Relativity, WindowRange, WindowCloseHandler } from './windowed-table.js';
export { StatePartition } from './partition.js';
export type { AnyTable, StatePartitionOptions } from './partition.js';
export { FileStateStore, MANIFEST_FILE } from './file-store.js';
export type { FileStateStoreOptions, StateFileSystem } from './file-store.js';
export type {
  StateStore,
  PartitionWriter,
  PartitionChanges,
  TableChanges,
  KeyGroupChanges,
  PartitionExtent,
  CommittedCheckpoint,
  CheckpointCommit,
  OpenedState,
  StateWarning,
  AppStateSpec,
  RestoreSink,
  RestoreStats,
} from './store.js';
export { encodeStateValue, decodeStateValue } from './value-codec.js';
// For StateStore implementations (the JetStream store in connectors/): the segment bytes and the manifest rules every store shares.
export { encodeSection, encodeSectionBody, encodeSegmentHeader, replaySegment, checkCheckpointId } from './segment-codec.js';
export { checkStoredApp, checkpointToCommit } from './manifest.js';
export { SegmentFill } from './compaction.js';
export type { StoredApp } from './manifest.js';
export {
  TableKeyOwnershipError,
  TableCapacityError,
  UnknownTableError,
  WindowCloseHandlerError,
  WindowTimestampError,
  StateCorruptionError,
  StateAppMismatchError,
  StateDeclarationMismatchError,
  StateDiskFullError,
  StateIOError,
} from './errors.js';
