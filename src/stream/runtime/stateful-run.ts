import { performance } from 'node:perf_hooks';
import { RingflowError } from '../../errors.js';
import type { CommittedCheckpoint, PartitionChanges, PartitionExtent, StateStore, StateWarning } from '../../state/index.js';
import type { GraphNode } from '../plan/graph.js';
import type { Plan } from '../plan/planner.js';
import { Job, JobFailedError, type CheckpointStats, type JobOptions, type JobResult, type JobSnapshot } from './job.js';
import type { SourceCheckpoint, SourceTiming } from './source-driver.js';
import type { CheckpointWritten, StageStateTask, TableSpec } from './stage-state.js';

/** A sink connector's two-phase commit, as the checkpoints drive it. */
export interface TransactionalSink {
  readonly name: string;
  prepare(checkpointId: number): Promise<unknown>;
  commit(checkpointId: number, state: unknown): Promise<void>;
  recover(committed: { checkpointId: number; state: unknown } | undefined): Promise<void>;
}

export interface StatefulRunOptions {
  plan: Plan;
  timing: Map<GraphNode, SourceTiming>;
  job: Omit<JobOptions, 'state'>;
  tables: TableSpec[];
  /** Checkpoints go here (opened already); none: tables live in memory only. */
  store?: StateStore;
  /** How workers reach the store (their own FileStateStore of the folder, or the store's worker factory). */
  workerStore?: StageStateTask['store'];
  /** The committed checkpoint found at startup. */
  checkpoint?: CommittedCheckpoint;
  intervalMs: number;
  maxRestarts: number;
  sinks: readonly TransactionalSink[];
  /** Whether a source connector can seek (feeds are connectors). */
  connectorReplayable(name: string): boolean;
  /** Warnings and restarts, for the job's log channel. */
  warn(warning: StateWarning | { code: 'STATE_RESTART'; message: string; cause: Error }): void;
}

/** The run has ended (or the attempt was torn down) while a checkpoint waited on it. */
class AttemptOver extends Error {}

/** One attempt's checkpoint queue and end. */
interface Attempt {
  chain: Promise<void>;
  ended: boolean;
  over: Promise<never>;
  end(error: AttemptOver): void;
  endWaiters: (() => void)[];
  finalCheckpoint: Promise<void> | undefined;
}

function newAttempt(): Attempt {
  let end!: (error: AttemptOver) => void;
  const over = new Promise<never>((_, reject) => (end = reject));
  over.catch(() => {});
  return { chain: Promise.resolve(), ended: false, over, end, endWaiters: [], finalCheckpoint: undefined };
}

/**
 * A job with tables and checkpoints: one Job per attempt. Every `intervalMs` it takes checkpoint N
 * (one at a time): the sources send barrier N where their position is known and pause; once the
 * barrier has reached every sink (so every stage has snapshotted exactly what came before it), the
 * transactional sinks prepare and the sources go on; when every keyed instance's extent is in, the
 * store commits N, then the sinks commit and the sources' connectors are acked. At a graceful end a
 * final checkpoint is taken before the stages end. A crashed worker rolls the whole job back to
 * the last committed checkpoint (Flink's restart-all) while restarts are left.
 */
export class StatefulRun {
  current: Job;
  committed: CommittedCheckpoint | undefined;
  readonly stats: CheckpointStats = { count: 0, lastId: 0, lastDurationMs: 0, lastBytes: 0, restarts: 0, tableEntries: {} };
  /** The keyed stage's tables at a graceful end (every entry), in a job without checkpoints (with them, the final checkpoint holds them). */
  finalTables: PartitionChanges[] | undefined;
  private nextId: number;
  private stopped = false;
  private cancelled = false;
  private readonly totals: JobResult = { sources: {}, sinks: {}, stages: {}, failures: 0, sideOutputs: 0, late: [] };
  /** The partition extents of the last commit, to count what the next one adds. */
  private lastExtents = new Map<string, PartitionExtent>();
  /** The sinks' prepared state of the last committed checkpoint. */
  private sinkStates: Record<string, unknown> = {};

  constructor(private readonly options: StatefulRunOptions) {
    this.committed = options.checkpoint;
    this.nextId = (options.checkpoint?.id ?? 0) + 1;
    this.stats.lastId = options.checkpoint?.id ?? 0;
    for (const p of options.checkpoint?.partitions ?? []) this.lastExtents.set(p.partition, p);
    this.sinkStates = { ...(options.checkpoint?.sinks ?? {}) };
    this.current = this.attempt();
  }

  /** The committed state of a transactional sink (for its `recover`). */
  committedSink(name: string): { checkpointId: number; state: unknown } | undefined {
    const c = this.committed;
    return c && c.sinks && name in c.sinks ? { checkpointId: c.id, state: c.sinks[name] } : undefined;
  }

  /** Where a source resumes: its position in the last committed checkpoint. */
  resumePosition(source: string): unknown {
    return this.committed?.sources[source];
  }

  stop(): void {
    this.stopped = true;
    this.current.stop();
  }

  cancel(reason?: unknown): void {
    this.cancelled = true;
    this.current.cancel(reason);
  }

  snapshot(): JobSnapshot {
    return { ...this.current.snapshot(), checkpoints: { ...this.stats, tableEntries: { ...this.stats.tableEntries } } };
  }

  async run(): Promise<JobResult> {
    for (;;) {
      const job = this.current;
      try {
        const result = await this.runAttempt(job);
        this.finalTables = this.options.store ? undefined : job.finalTables;
        return this.addUp(result, true);
      } catch (error) {
        // A commit under way when the attempt died finishes first: the rollback goes to it.
        await this.live.chain;
        const crashed = error instanceof JobFailedError && error.workerCrashed;
        const replayable = job.allSourcesReplayable((name) => this.options.connectorReplayable(name));
        if (error instanceof JobFailedError && error.result) this.addUp(error.result, false);
        if (!crashed || this.cancelled || this.stats.restarts >= this.options.maxRestarts || !replayable || !this.options.store) {
          if (error instanceof JobFailedError && crashed && this.options.maxRestarts > 0 && !replayable) {
            throw new JobFailedError(`${error.message} (not restarted: every source must be replayable to roll back to a checkpoint)`, {
              cause: error.cause,
              result: this.totals,
              workerCrashed: true,
            });
          }
          throw error;
        }
        this.stats.restarts++;
        this.options.warn({
          code: 'STATE_RESTART',
          message: `a worker crashed (${(error as Error).message}); restart ${this.stats.restarts} of ${this.options.maxRestarts} from checkpoint ${this.committed?.id ?? 'none (the start)'}`,
          cause: error as Error,
        });
        // The sinks drop what the last committed checkpoint does not cover; the next attempt restores and seeks.
        for (const sink of this.options.sinks) await sink.recover(this.committedSink(sink.name));
        this.current = this.attempt();
        if (this.stopped) this.current.stop();
      }
    }
  }

  /** Adds an attempt's counts to the run's (a replayed record is counted again). */
  private addUp(result: JobResult, last: boolean): JobResult {
    const t = this.totals;
    const add = (into: Record<string, number>, from: Record<string, number>) => {
      for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
    };
    add(t.sources, result.sources);
    add(t.sinks, result.sinks);
    add(t.stages, result.stages);
    t.failures += result.failures;
    t.sideOutputs += result.sideOutputs;
    t.late.push(...result.late.slice(0, Math.max(0, 10_000 - t.late.length)));
    if (last) {
      t.restarts = this.stats.restarts;
      t.checkpoints = { ...this.stats, tableEntries: { ...this.stats.tableEntries } };
    }
    return t;
  }

  private attempt(): Job {
    const o = this.options;
    let job!: Job;
    const state = {
      tables: o.tables,
      store: o.workerStore,
      checkpoint: this.committed,
      checkpointing: o.store
        ? { resume: (source: string) => this.resumePosition(source), atEnd: () => this.atEnd(job) }
        : undefined,
      written: (partition: string, written: CheckpointWritten) => this.written(job, partition, written),
      writeFailed: (_partition: string, error: Error & { code?: string }) => job.fail(stateError(error)),
    };
    job = new Job(o.plan, o.timing, { ...o.job, state });
    return job;
  }

  // ------------------------------------------------------------------ checkpoints of one attempt

  private pending: { job: Job; id: number; expected: Set<string>; extents: PartitionExtent[]; entries: Record<string, number>; done: () => void } | undefined;
  /** The attempt running now: its checkpoints queue, and what ends with it. */
  private live: Attempt = newAttempt();

  private async runAttempt(job: Job): Promise<JobResult> {
    const attempt = (this.live = newAttempt());
    const done = job.run();
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (this.options.store) {
      const tick = () => {
        if (attempt.ended) return;
        timer = setTimeout(() => {
          if (attempt.finalCheckpoint || attempt.ended) return;
          this.enqueue(attempt, job).then(tick, () => {});
        }, this.options.intervalMs);
      };
      tick();
    }
    try {
      const result = await done;
      // The final checkpoint was committed before the sources let their end go out.
      await attempt.chain;
      return result;
    } finally {
      attempt.ended = true;
      clearTimeout(timer);
      attempt.end(new AttemptOver('the attempt ended'));
    }
  }

  /** Queues a checkpoint after the one in flight; a failure fails the attempt. */
  private enqueue(attempt: Attempt, job: Job): Promise<void> {
    const next = attempt.chain.then(() => this.checkpoint(attempt, job));
    attempt.chain = next.catch((error: unknown) => {
      if (!(error instanceof AttemptOver)) job.fail(error as Error);
    });
    return attempt.chain;
  }

  /** A source is exhausted or stopped: once all are, the final checkpoint, then they may end. */
  private atEnd(job: Job): Promise<void> {
    const attempt = this.live;
    return new Promise<void>((resolve) => {
      attempt.endWaiters.push(resolve);
      // A torn-down attempt lets them go (its rings are closed, nothing more goes out).
      attempt.over.catch(() => resolve());
      if (attempt.endWaiters.length === job.sourceCount) {
        const waiters = attempt.endWaiters;
        attempt.finalCheckpoint = this.enqueue(attempt, job).then(() => waiters.forEach((w) => w()));
      }
    });
  }

  private written(job: Job, partition: string, written: CheckpointWritten): void {
    const p = this.pending;
    if (!p || p.job !== job || p.id !== written.id) return;
    if (written.extent) p.extents.push(written.extent);
    for (const [table, n] of Object.entries(written.entries)) p.entries[table] = (p.entries[table] ?? 0) + n;
    p.expected.delete(partition);
    if (p.expected.size === 0) p.done();
  }

  private async checkpoint(attempt: Attempt, job: Job): Promise<void> {
    const until = <T>(promise: Promise<T>): Promise<T> => Promise.race([promise, attempt.over]);
    const store = this.options.store!;
    const id = this.nextId++;
    const started = performance.now();
    const expected = new Set(job.partitions);
    let done!: () => void;
    const allWritten = new Promise<void>((resolve) => (done = resolve));
    this.pending = { job, id, expected, extents: [], entries: {}, done };
    if (expected.size === 0) done();
    const pending = this.pending;
    const reached = job.sinkCheckpoint(id);
    const prepared: Record<string, unknown> = {};
    let positions: Record<string, SourceCheckpoint>;
    try {
      positions = await until(job.sourceCheckpoint(id));
      await until(reached);
      for (const sink of this.options.sinks) prepared[sink.name] = await until(sink.prepare(id));
    } finally {
      job.resumeSources();
    }
    await until(allWritten);
    this.pending = undefined;
    const sources: Record<string, unknown> = {};
    for (const [name, at] of Object.entries(positions)) if (at.position !== undefined) sources[name] = at.position;
    // Not raced with the attempt's end: once the store commits, the run must know it (a rollback
    // restores this checkpoint, and the store may have dropped the segments of the one before).
    const committed = await store.commit({ id, partitions: pending.extents, sources, ...(this.options.sinks.length > 0 ? { sinks: prepared } : {}) });
    this.committed = committed;
    this.sinkStates = prepared;
    for (const sink of this.options.sinks) await sink.commit(id, prepared[sink.name]);
    for (const at of Object.values(positions)) at.committed?.();
    let bytes = 0;
    for (const e of pending.extents) {
      const before = this.lastExtents.get(e.partition);
      bytes += before && before.file === e.file ? e.length - before.length : e.length;
      this.lastExtents.set(e.partition, e);
    }
    Object.assign(this.stats, { count: this.stats.count + 1, lastId: id, lastDurationMs: performance.now() - started, lastBytes: bytes, tableEntries: pending.entries });
  }
}

/** A stage instance's state error, rebuilt on the main thread with its code (ERR_STATE_DISK_FULL, ERR_STATE_IO, …). */
function stateError(error: Error & { code?: string }): Error {
  const rebuilt = new RingflowError(error.code ?? 'ERR_STATE_IO', error.message);
  rebuilt.name = error.name;
  return rebuilt;
}
