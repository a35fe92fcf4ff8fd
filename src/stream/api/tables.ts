import { RingflowError } from '../../errors.js';
import {
  StatePartition,
  UnknownTableError,
  type CommittedCheckpoint,
  type PartitionChanges,
  type StateStore,
  type TableDeclaration,
  type WindowRange,
  type WindowSet,
} from '../../state/index.js';

/** env.tables read when nothing can answer: no job ran, or it is running without a store to read checkpoints from. */
export class TablesNotAvailableError extends RingflowError {
  constructor(message: string) {
    super('ERR_TABLES_NOT_AVAILABLE', message);
  }
}

/** What the reader reads from, as the environment knows it now. */
export interface TableSource {
  /** A job is running. */
  running: boolean;
  /** Every entry of the keyed stage's instances, once a job ended gracefully. */
  finalTables: readonly PartitionChanges[] | undefined;
  /** The last committed checkpoint and the store it is in (jobs with a stateDir / stateStore). */
  committed: CommittedCheckpoint | undefined;
  store: StateStore | undefined;
}

/**
 * `env.tables`: the tables from the main thread. While a job runs they are read from its last
 * committed checkpoint (consistent, at most checkpointIntervalMs behind; without a stateDir there
 * is nothing to read while running). After a graceful end (sources exhausted, or stop()) they are
 * the final state the instances held, which the final checkpoint also holds; after a failed or
 * cancelled job, the last committed checkpoint.
 */
export class TablesReader {
  private cached: { key: unknown; partition: Promise<StatePartition> } | undefined;

  constructor(
    private readonly declarations: () => readonly TableDeclaration<any>[],
    private readonly maxParallelism: () => number,
    private readonly source: () => TableSource,
  ) {}

  /** A plain table's value of `key` (the default's when it has none); a windowed table's WindowSet. */
  async get<V = any>(name: string, key: unknown): Promise<V | WindowSet<V> | undefined> {
    const table = (await this.partition(name)).table<V>(name);
    return table.get(key) as V | WindowSet<V> | undefined;
  }

  /** A plain table's [key, value] pairs; a windowed table's [key, value, window] triples. */
  async entries<V = any>(name: string): Promise<[string, V][] | [string, V, WindowRange][]> {
    const table = (await this.partition(name)).table<V>(name);
    return table.windowed ? [...table.windowEntries()] : [...table.entries()];
  }

  private partition(name: string): Promise<StatePartition> {
    const declarations = this.declarations();
    if (!declarations.some((d) => d.name === name)) throw new UnknownTableError(name, declarations.map((d) => d.name));
    const s = this.source();
    const whole = () => new StatePartition({ declarations, index: 0, parallelism: 1, maxParallelism: this.maxParallelism() });
    if (!s.running && s.finalTables) {
      const key = s.finalTables;
      if (this.cached?.key !== key) {
        const p = whole();
        for (const changes of s.finalTables) p.load(changes);
        this.cached = { key, partition: Promise.resolve(p) };
      }
      return this.cached.partition;
    }
    if (s.committed && s.store) {
      const key = s.committed;
      if (this.cached?.key !== key) {
        const p = whole();
        const store = s.store;
        this.cached = { key, partition: p.restore(store, key).then(() => p) };
        this.cached.partition.catch(() => (this.cached = undefined));
      }
      return this.cached.partition;
    }
    if (s.running) {
      throw new TablesNotAvailableError(
        s.store
          ? 'no checkpoint has been committed yet: while the job runs, env.tables reads its last committed checkpoint'
          : 'while a job runs, env.tables reads its last committed checkpoint, and this environment takes none (give it a stateDir)',
      );
    }
    throw new TablesNotAvailableError('no job has run in this environment yet (env.tables answers while and after execute())');
  }
}
