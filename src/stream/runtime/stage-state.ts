import { RingflowError } from '../../errors.js';
import {
  FileStateStore,
  StatePartition,
  TableDeclaration,
  type AnyTable,
  type CommittedCheckpoint,
  type PartitionChanges,
  type PartitionExtent,
  type PartitionWriter,
  type WindowSpec,
} from '../../state/index.js';
import { compileSource, type FnRef } from '../plan/functions.js';
import { resolveTaskFunction } from '../../pool/index.js';
import type { StateStore } from '../../state/index.js';

/** A table declaration as it travels to a worker: its stored form and its default factory's source. */
export interface TableSpec {
  name: string;
  window?: WindowSpec;
  default?: Extract<FnRef, { kind: 'source' }>;
}

/** What one instance of the keyed stage needs for its tables (structured-cloneable). */
export interface StageStateTask {
  tables: TableSpec[];
  maxParallelism: number;
  /** The partition's name in the store: '<stage>.<instance>'. */
  partition: string;
  /**
   * Where this instance writes its partition and restores from: a FileStateStore folder, or a
   * store's worker factory (StateStore.workerFactory); none: tables in memory only.
   */
  store?: { stateDir: string; appId: string } | { module: string; export: string; options: unknown };
  /** The checkpoint to restore (the last committed one), if any. */
  checkpoint?: CommittedCheckpoint;
}

/** ctx.table() in an operator of a stage that holds no tables (not keyed by keyBy, or not the keyed stage). */
export class TableOutsideKeyedStageError extends RingflowError {
  constructor(operator: string, table: string, why: string) {
    super('ERR_TABLE_NOT_KEYED', `operator '${operator}': ctx.table('${table}') is only available in the keyed stage (the operators right after keyBy): ${why}`);
  }
}

/** Rebuilds a TableDeclaration from its travelling form. */
export function tableDeclaration(spec: TableSpec): TableDeclaration {
  const makeDefault = spec.default ? (compileSource(spec.default) as () => unknown) : undefined;
  const declaration = new TableDeclaration(spec.name, makeDefault ? { default: makeDefault } : {});
  const w = spec.window;
  if (w?.kind === 'tumbling') declaration.tumbling(w.sizeMs, { expiresMs: w.expiresMs });
  else if (w?.kind === 'hopping') declaration.hopping(w.sizeMs, w.stepMs, { expiresMs: w.expiresMs });
  return declaration;
}

/** What a stage instance tells the main thread when its part of a checkpoint is durable. */
export interface CheckpointWritten {
  id: number;
  extent: PartitionExtent | undefined;
  /** Entries per table at the checkpoint. */
  entries: Record<string, number>;
}

/**
 * The tables of one keyed stage instance, in its worker: restored at start, snapshotted at each
 * checkpoint barrier (the changes are taken at once; the write goes on while records flow).
 */
export class StageState {
  private readonly writes = new Set<Promise<void>>();
  private constructor(
    readonly partition: StatePartition,
    private readonly store: StateStore | undefined,
    private readonly writer: PartitionWriter | undefined,
  ) {}

  static async open(task: StageStateTask, index: number, parallelism: number): Promise<StageState> {
    const spec = task.store;
    const partition = new StatePartition({
      declarations: task.tables.map(tableDeclaration),
      index,
      parallelism,
      maxParallelism: task.maxParallelism,
      name: task.partition,
      // Without a store no checkpoint ever takes the changes: remembering them would only grow.
      trackChanges: spec !== undefined,
    });
    const store: StateStore | undefined = !spec
      ? undefined
      : 'stateDir' in spec
        ? new FileStateStore({ stateDir: spec.stateDir, appId: spec.appId })
        : ((await (await resolveTaskFunction(spec.module, spec.export))(spec.options)) as StateStore);
    if (store && task.checkpoint) await partition.restore(store, task.checkpoint);
    return new StageState(partition, store, store?.writer(task.partition));
  }

  table(name: string): AnyTable {
    return this.partition.table(name);
  }

  /** A checkpoint write is under way: the stage must give its event loop turns so the file I/O goes on. */
  get writing(): boolean {
    return this.writes.size > 0;
  }

  /** At checkpoint barrier `id`: takes the changes now, writes them, and reports the extent (or the error). */
  checkpoint(id: number, done: (written: CheckpointWritten) => void, failed: (error: unknown) => void): void {
    const entries = this.partition.entryCounts();
    if (!this.writer) {
      done({ id, extent: undefined, entries });
      return;
    }
    const write = this.partition.checkpoint(id, this.writer).then(
      (extent) => done({ id, extent, entries }),
      (error: unknown) => failed(error),
    );
    const tracked = write.finally(() => this.writes.delete(tracked));
    this.writes.add(tracked);
  }

  /** Waits for the writes under way. */
  async settle(): Promise<void> {
    while (this.writes.size > 0) await Promise.all([...this.writes]);
  }

  /** Every entry, for the main thread once the job has ended. */
  finalChanges(): PartitionChanges {
    return this.partition.takeChanges(0, true);
  }

  async close(): Promise<void> {
    await this.writer?.close().catch(() => {});
    await this.store?.close().catch(() => {});
  }
}
