import { decodeEnvelope } from '../../codec/index.js';
import { AbortError, RingflowError, TimeoutError } from '../../errors.js';
import { WorkerPool, workerModule, type ThreadPriority } from '../../pool/index.js';
import { SharedRing } from '../../ring/index.js';
import type { ChainNode } from './chain.js';
import { EdgeWriter, type EdgeTask } from './edge-writer.js';
import { FrameKind, kindOf, type ArenaHandle } from './frames.js';
import type { FnRef } from '../plan/functions.js';
import type { GraphNode } from '../plan/graph.js';
import { StageCounters } from './stage-counters.js';
import { producerCount, vertexName, type Plan, type Vertex, type VertexEdge } from '../plan/planner.js';
import { SinkDriver } from './sink-driver.js';
import { KeySelectorError, messageOf, reviveError, SinkError, toError } from './errors.js';
import { SourceDriver, type SourceTiming } from './source-driver.js';
import type { ChannelMessage, StageReport, StageTask } from './stage.js';
import { replayableSource, type SourceCheckpoint, type SourceCheckpointing } from './source-driver.js';
import type { CommittedCheckpoint, PartitionChanges } from '../../state/index.js';
import type { CheckpointWritten, StageStateTask, TableSpec } from './stage-state.js';
import type { ResourceLimits } from 'node:worker_threads';

const STAGE_MODULE = workerModule('stage.mjs', new URL(`./stage${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

export interface JobOptions {
  ringCapacity: number;
  zeroCopyVectors: boolean;
  workerPriority: ThreadPriority;
  /** Heap limits of each operator thread (StreamEnvironmentOptions.workerResourceLimits). */
  workerResourceLimits?: ResourceLimits;
  /**
   * Where failures go; without a handler, execute() rejects after the run naming the first one
   * (the first KEPT_FAILURES are kept on the error, the rest only counted). A handler that throws
   * (or whose promise rejects) stops nothing: execute() rejects after the run with HandlerError.
   */
  onFailure?: (failure: OperatorFailure) => unknown;
  onSideOutput?: (output: SideOutput) => unknown;
  /** Cancels the job when it fires (execute({ signal })). */
  signal?: AbortSignal;
  /** Gives each stage instance its own service client handle (ctx.services), and takes it back. */
  services?: ServiceAccess;
  /** Shared buffers handed to every stage (ctx.shared). */
  shared?: Record<string, SharedArrayBuffer>;
  /** Key groups of keyBy's 'hash' routing (see Router). Default 128. */
  maxParallelism?: number;
  /** Tables and checkpoints (env.table, stateDir): see JobState. */
  state?: JobState;
}

/** What a job with tables or checkpoints is given (see StatefulRun). */
export interface JobState {
  tables: TableSpec[];
  /** Where the keyed stage's instances write their partitions (see StageStateTask.store); none: tables in memory only. */
  store?: StageStateTask['store'];
  /** The committed checkpoint this attempt starts from. */
  checkpoint?: CommittedCheckpoint;
  /** Checkpoints are taken: sources take part (resume position, final checkpoint at their end). */
  checkpointing?: {
    resume(source: string): unknown;
    atEnd(): Promise<void>;
  };
  /** Reports what a stage instance wrote for a checkpoint, or why it could not. */
  written(partition: string, written: CheckpointWritten): void;
  writeFailed(partition: string, error: Error & { code?: string }): void;
}

/** A keyed stage's partitions are named '<stage>.<instance>' in the store. */
export function partitionName(vertex: Vertex, instance: number): string {
  return `${vertexName(vertex).replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 80)}.${instance}`;
}

/** A plan that cannot hold the declared tables (no keyed stage, or several). */
export class TablePlanError extends RingflowError {
  constructor(message: string) {
    super('ERR_TABLE_PLAN', message);
  }
}

/** The keyed stage that holds the tables (undefined without tables); TablePlanError when there is none or several. */
export function tableVertex(plan: Plan, tables: readonly string[]): Vertex | undefined {
  if (tables.length === 0) return undefined;
  const keyed = keyedVertices(plan);
  const names = tables.map((t) => `'${t}'`).join(', ');
  if (keyed.length === 0) throw new TablePlanError(`tables ${names} are declared, but no stage is keyed: tables live in the operators right after keyBy`);
  if (keyed.length > 1) {
    throw new TablePlanError(`tables ${names} live in one keyed stage, and this plan has ${keyed.length}: ${keyed.map((v) => `'${vertexName(v)}'`).join(', ')}`);
  }
  return keyed[0];
}

/** The worker vertices that read a keyBy ('hash') input: where tables live. */
export function keyedVertices(plan: Plan): Vertex[] {
  return plan.vertices.filter((v) => v.kind === 'worker' && v.inputs.some((e) => e.partition.kind === 'hash'));
}

/** How a job reaches the services: a client handle per stage instance (each worker thread needs its own reply ring). */
export interface ServiceAccess {
  handle(): Promise<unknown>;
  release(handle: unknown): Promise<void>;
}

/** A record an operator threw on: the operator, the record's key (if keyed), the record and the error. */
export interface OperatorFailure {
  operator: string;
  key: string | undefined;
  record: unknown;
  error: Error & { code?: string };
}

/** A record an operator sent to a side output (late for its window, …). */
export interface SideOutput {
  operator: string;
  tag: string;
  value: unknown;
}

/** What job.snapshot() and the result say of checkpoints. */
export interface CheckpointStats {
  /** Checkpoints committed by this run. */
  count: number;
  /** The id of the last committed checkpoint (also one from an earlier run), 0 before any. */
  lastId: number;
  /** How long the last one took, from its barriers to its commit (ms). */
  lastDurationMs: number;
  /** Bytes the last one wrote into the store (its partitions' new bytes). */
  lastBytes: number;
  /** Times the job was rolled back to its last checkpoint after a worker crashed. */
  restarts: number;
  /** Table entries at the last checkpoint, per table (summed over the instances). */
  tableEntries: Record<string, number>;
}

export interface JobResult {
  /** Records each source emitted, by source name. */
  sources: Record<string, number>;
  /** Records each sink received, by sink name. */
  sinks: Record<string, number>;
  /** Records each worker vertex processed (summed over its instances), by its chain's name. */
  stages: Record<string, number>;
  failures: number;
  sideOutputs: number;
  /** Side outputs kept when no handler was set (the first 10 000). */
  late: SideOutput[];
  /** Jobs with checkpoints: how often a crashed worker rolled the job back (counts above include the replays). */
  restarts?: number;
  checkpoints?: CheckpointStats;
  /** Jobs with tables or checkpoints: the state runtime's warnings (see env.onWarning). */
  warnings?: { code: string; message: string }[];
}

/** Failures kept when no handler is set (the rest are counted in `result.failures`). */
export const KEPT_FAILURES = 100;

/** How long the end of a job waits for a service to take back its client handles (a hung one must not hold the job). */
const SERVICE_RELEASE_MS = 2_000;
/** How long a cancelled or failed job waits for its worker threads to be terminated. */
const TEARDOWN_MS = 5_000;

/** One worker instance of a running job, as snapshot() sees it. */
export interface StageSnapshot {
  /** The chain's name (its operators joined by →). */
  name: string;
  instance: number;
  /** Bytes of frames waiting in the instance's input ring, and the ring's size. */
  backlogBytes: number;
  capacityBytes: number;
  /** Frames the instance has taken from its input ring (a frame holds one record or a batch). */
  framesIn: number;
  /** Records it took in, records its chain emitted, records its operators failed on. */
  recordsIn: number;
  recordsOut: number;
  failures: number;
  /** Its input watermark (ms), -Infinity before the first. */
  watermark: number;
}

/** A running job's progress: see Job.snapshot(). */
export interface JobSnapshot {
  sources: Record<string, number>;
  sinks: Record<string, number>;
  stages: StageSnapshot[];
  failures: number;
  sideOutputs: number;
  /** Jobs with checkpoints (stateDir): how many, the last one's duration and bytes, restarts, table entries. */
  checkpoints?: CheckpointStats;
}

/**
 * A pipeline failed as a whole: a worker died, or records failed and no failure handler was set.
 * `failure` is the first failed record, `failures` the first KEPT_FAILURES; `result` counts what
 * each source sent and each sink received up to the end, so every record can be accounted for.
 */
export class JobFailedError extends RingflowError {
  constructor(message: string, options?: ErrorOptions & { failure?: OperatorFailure; failures?: OperatorFailure[]; result?: JobResult; workerCrashed?: boolean }) {
    super('ERR_JOB_FAILED', message, options);
    this.failure = options?.failure;
    this.failures = options?.failures ?? (options?.failure ? [options.failure] : []);
    this.result = options?.result;
    this.workerCrashed = options?.workerCrashed === true;
  }
  /** A worker thread died (exited, was terminated, or its task threw): what a restart can recover from. */
  readonly workerCrashed: boolean;
  readonly failure?: OperatorFailure;
  readonly failures: OperatorFailure[];
  readonly result?: JobResult;
}

/**
 * The job's onError or onSideOutput handler threw (or its promise rejected). The job ran on (every
 * record was still delivered or handed to the handler); execute() rejects with this after the run.
 * `handler` names it, `count` says how often it threw, `cause` is its first error.
 */
export class HandlerError extends RingflowError {
  constructor(
    readonly handler: 'onError' | 'onSideOutput',
    readonly count: number,
    cause: unknown,
    readonly result: JobResult,
  ) {
    super('ERR_HANDLER_FAILED', `the ${handler} handler threw ${count === 1 ? 'once' : `${count} times`}, first: ${messageOf(cause)}`, { cause });
  }
}

/** The job was cancelled (job.cancel(), execute({ signal }), env.close()). An AbortError: `name` is 'AbortError', `code` 'ABORT_ERR'. */
export class JobCancelledError extends AbortError {
  constructor(
    reason: unknown,
    readonly result: JobResult,
  ) {
    super(`the job was cancelled${reason === undefined ? '' : `: ${messageOf(reason)}`}`, { cause: reason });
    this.name = 'AbortError';
  }
}

/** A deployed pipeline: its rings, worker tasks and main-thread drivers. */
export class Job {
  private readonly pool: WorkerPool;
  private readonly abort = new AbortController();
  private readonly channel: SharedRing;
  private readonly sinks = new Map<Vertex, SinkDriver>();
  private readonly inputs = new Map<Vertex, SharedRing[]>();
  private readonly failures: OperatorFailure[] = [];
  private readonly result: JobResult = { sources: {}, sinks: {}, stages: {}, failures: 0, sideOutputs: 0, late: [] };
  /** Errors of the onError / onSideOutput handlers: how often each threw, and its first error. */
  private readonly handlerErrors = new Map<'onError' | 'onSideOutput', { count: number; first: unknown }>();
  /** Promises returned by handlers, awaited before the job ends (so their rejections are reported). */
  private readonly handlerPromises = new Set<Promise<unknown>>();
  /** Set once the job is cancelled: run() rejects with it. */
  private cancelled: JobCancelledError | undefined;
  private readonly cancellation: Promise<never>;
  private cancelNow: (error: JobCancelledError) => void = () => {};
  private settled = false;
  /** Every worker instance's live counts (see stage-counters.ts). */
  private readonly counters: StageCounters;
  /** The running sources' drivers by source name (their counts are live, for snapshot()). */
  private readonly sourceDrivers = new Map<string, SourceDriver>();
  /** stop() was called: sources that start from now on end at once. */
  private stopping = false;
  /** The feed arenas whose batches travel by reference: every reader of the job's rings may need them. */
  private readonly arenas: ArenaHandle[];
  /** The vertex whose instances hold the tables (the keyed stage), if the job has tables. */
  private readonly tableVertex: Vertex | undefined;
  /** Why ctx.table is unavailable in the other stages. */
  private readonly noTables: string;
  /** Every table entry the keyed stage's instances held at their end (graceful ends only). */
  readonly finalTables: PartitionChanges[] = [];
  /** Fails the job from outside (a checkpoint could not be written or committed). */
  private failNow: (error: Error) => void = () => {};
  private readonly failure: Promise<never>;
  private failedWith: Error | undefined;
  private sourcesCreated!: () => void;
  /** Resolves once every source's driver exists (checkpoints can then reach all of them). */
  readonly sourcesReady = new Promise<void>((resolve) => (this.sourcesCreated = resolve));

  constructor(
    private readonly plan: Plan,
    private readonly timing: Map<GraphNode, SourceTiming>,
    private readonly options: JobOptions,
  ) {
    const workerInstances = plan.vertices.filter((v) => v.kind === 'worker').reduce((n, v) => n + v.parallelism, 0);
    this.pool = new WorkerPool({ threads: Math.max(1, workerInstances), priority: options.workerPriority, resourceLimits: options.workerResourceLimits });
    this.channel = SharedRing.create({ capacity: 1 << 20 });
    this.counters = StageCounters.create(workerInstances);
    this.arenas = plan.vertices.flatMap((v) => {
      const spec = v.nodes[0]!.spec;
      return spec.kind === 'source' && spec.source.kind === 'feed' && spec.source.arena ? [{ id: spec.source.arena.id, buffer: spec.source.arena.buffer }] : [];
    });
    for (const vertex of plan.vertices) {
      if (vertex.kind === 'worker') {
        this.inputs.set(vertex, Array.from({ length: vertex.parallelism }, () => SharedRing.create({ capacity: options.ringCapacity })));
      } else if (vertex.kind === 'sink') {
        const spec = vertex.nodes[0]!.spec;
        if (spec.kind !== 'sink') throw new RingflowError('ERR_INTERNAL', 'a sink vertex without a sink');
        const name = vertex.nodes[0]!.name;
        const driver = new SinkDriver(name, spec.sink, options.ringCapacity, producerCount(vertex), this.arenas, (record, error) => {
          const cause = toError(error);
          const failed = Object.assign(new SinkError(name, cause, record), { stack: cause.stack });
          // Without a handler a sink's error fails the job at once: what it could not take was not
          // delivered (a connector must not acknowledge it). With one, the record is reported.
          if (!this.options.onFailure) throw failed;
          this.report({ operator: name, key: undefined, record, error: failed });
        });
        this.sinks.set(vertex, driver);
        this.inputs.set(vertex, [driver.ring]);
      }
    }
    this.cancellation = new Promise<never>((_, reject) => (this.cancelNow = reject));
    this.cancellation.catch(() => {}); // raced against, never awaited alone
    this.failure = new Promise<never>((_, reject) => (this.failNow = reject));
    this.failure.catch(() => {});
    const tables = options.state?.tables ?? [];
    this.tableVertex = tableVertex(plan, tables.map((t) => t.name));
    this.noTables = this.tableVertex ? `the tables live in '${vertexName(this.tableVertex)}'` : 'no table is declared (env.table(name, { default }))';
  }

  /** Fails the job (its run() rejects with `error`); a no-op once it has ended. */
  fail(error: Error): void {
    if (this.settled || this.cancelled || this.failedWith) return;
    this.failedWith = error;
    this.failNow(error);
    this.tearDown();
  }

  /** Checkpoint `id`: every source sends its barrier at its next known position; resolves with their positions. */
  async sourceCheckpoint(id: number): Promise<Record<string, SourceCheckpoint>> {
    await this.sourcesReady;
    const out: Record<string, SourceCheckpoint> = {};
    await Promise.all([...this.sourceDrivers].map(async ([name, driver]) => (out[name] = await driver.requestCheckpoint(id))));
    return out;
  }

  /** Resolves once checkpoint barrier `id` has reached every sink (register before asking the sources). */
  sinkCheckpoint(id: number): Promise<void> {
    return Promise.all([...this.sinks.values()].map((s) => s.checkpoint(id))).then(() => this.takeReports());
  }

  /** The sources go on after a checkpoint barrier. */
  resumeSources(): void {
    for (const driver of this.sourceDrivers.values()) driver.resume();
  }

  /** How many sources the job has. */
  get sourceCount(): number {
    return this.plan.vertices.filter((v) => v.kind === 'source').length;
  }

  /** The keyed stage's partition names ('<stage>.<instance>'), which every checkpoint must hear from. */
  get partitions(): string[] {
    const v = this.tableVertex;
    return v ? Array.from({ length: v.parallelism }, (_, i) => partitionName(v, i)) : [];
  }

  /** Whether every source can replay from a checkpointed position (`connectorReplayable` answers for feeds). */
  allSourcesReplayable(connectorReplayable: (name: string) => boolean): boolean {
    return this.plan.vertices
      .filter((v) => v.kind === 'source')
      .every((v) => {
        const spec = v.nodes[0]!.spec;
        return spec.kind === 'source' && (spec.source.kind === 'feed' ? connectorReplayable(v.nodes[0]!.name) : replayableSource(spec.source));
      });
  }

  /**
   * Cancels the job: sources stop, sinks stop delivering, every worker thread is terminated (also
   * one stuck in a loop), and run() rejects with JobCancelledError. A no-op once the job has ended.
   */
  cancel(reason?: unknown): void {
    if (this.settled || this.cancelled) return;
    this.cancelled = new JobCancelledError(reason, this.tally());
    this.cancelNow(this.cancelled);
    this.tearDown();
  }

  /** Stops everything without waiting: sources see the abort, rings close (waking every waiter), the pool terminates its threads. */
  private tearDown(): void {
    this.abort.abort();
    for (const driver of this.sourceDrivers.values()) driver.resume();
    for (const sink of this.sinks.values()) sink.stop();
    for (const rings of this.inputs.values()) for (const ring of rings) ring.close();
    this.channel.close();
    void this.pool.close().catch(() => {});
  }

  /** The result, with what each source sent and each sink received so far. */
  private tally(): JobResult {
    for (const [name, driver] of this.sourceDrivers) this.result.sources[name] = driver.records;
    for (const [vertex, sink] of this.sinks) this.result.sinks[vertex.nodes[0]!.name] = sink.records;
    return this.result;
  }

  /**
   * Resolves once a barrier of `epoch` (sent by a feed source) has reached every sink, i.e. once
   * everything fed before it has gone through the whole pipeline. Register before sending it.
   */
  barrier(epoch: number): Promise<void> {
    // Failures and side outputs of records before the barrier were sent before it: they are in the
    // channel by now, and are dispatched before the barrier resolves.
    return Promise.all([...this.sinks.values()].map((s) => s.barrier(epoch))).then(() => this.takeReports());
  }

  /** See RunningJob.stop. */
  stop(): void {
    this.stopping = true;
    for (const driver of this.sourceDrivers.values()) driver.stop();
  }

  /** See RunningJob.releaseSinks. */
  releaseSinks(deliver: boolean): void {
    for (const sink of this.sinks.values()) sink.release(deliver);
  }

  /**
   * What the job has done so far, read without stopping it: records per source and sink (counted
   * on the main thread) and each worker instance's input ring (bytes waiting, frames taken).
   */
  snapshot(): JobSnapshot {
    const sources: Record<string, number> = {};
    for (const [name, driver] of this.sourceDrivers) sources[name] = driver.records;
    const sinks: Record<string, number> = {};
    for (const [vertex, sink] of this.sinks) sinks[vertex.nodes[0]!.name] = sink.records;
    const stages: StageSnapshot[] = [];
    let slot = 0;
    for (const vertex of this.plan.vertices) {
      if (vertex.kind !== 'worker') continue;
      this.inputs.get(vertex)!.forEach((ring, instance) => {
        const stats = ring.stats();
        stages.push({ name: vertexName(vertex), instance, backlogBytes: stats.usedBytes, capacityBytes: stats.capacity, framesIn: stats.framesRead, ...this.counters.read(slot++) });
      });
    }
    return { sources, sinks, stages, failures: this.result.failures, sideOutputs: this.result.sideOutputs };
  }

  /** Runs every source to its end and resolves once everything has reached the sinks. */
  async run(): Promise<JobResult> {
    const signal = this.options.signal;
    const onAbort = () => this.cancel(signal!.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const handles: unknown[] = [];
    try {
      await Promise.race([this.serviceHandles(handles), this.cancellation]);
      return await this.runWith(handles);
    } finally {
      this.settled = true;
      signal?.removeEventListener('abort', onAbort);
      // A hung service must not hold the job's end: its handles are given back within a bound.
      const released = Promise.all(handles.map((h) => this.options.services!.release(h)));
      await within(released, SERVICE_RELEASE_MS).catch(() => {});
    }
  }

  /** One service client handle per worker instance, in plan order (none without services). */
  private async serviceHandles(handles: unknown[]): Promise<void> {
    const services = this.options.services;
    if (!services) return;
    const count = this.plan.vertices.filter((v) => v.kind === 'worker').reduce((n, v) => n + v.parallelism, 0);
    for (let i = 0; i < count && !this.cancelled; i++) handles.push(await services.handle());
  }

  private async runWith(handles: unknown[]): Promise<JobResult> {
    const stages = this.startStages(handles);
    const sinks = [...this.sinks.values()].map((s) => s.run());
    const channel = this.pumpChannel();
    const sources = this.startSources();
    try {
      // A worker that dies (or fails to load its operators) fails the job at once; so does a cancel.
      await Promise.race([Promise.all([...sinks, ...sources]), stages.then(() => new Promise(() => {})), this.cancellation, this.failure]);
      await Promise.race([stages, this.cancellation, this.failure]);
    } catch (error) {
      this.tearDown();
      if (this.cancelled) throw this.cancelled;
      if (this.failedWith) throw this.failedWith;
      if (error instanceof SinkError) {
        error.result = this.tally();
        error.message += '; the job stopped (no onError handler): records that had not reached a sink were not delivered (error.result has the counts)';
        throw error;
      }
      throw error instanceof RingflowError
        ? error
        : new JobFailedError(`the pipeline failed: ${messageOf(error)}`, { cause: error, result: this.tally() });
    } finally {
      this.channel.close();
      // Bounded: a cancelled job's threads may be stuck; terminating them must not be waited on for ever.
      await within(Promise.all([channel, this.pool.close()]), TEARDOWN_MS).catch(() => {});
    }
    this.tally();
    if (this.handlerPromises.size > 0) await Promise.race([Promise.allSettled([...this.handlerPromises]), this.cancellation]);
    if (this.cancelled) throw this.cancelled;
    if (this.failedWith) throw this.failedWith;
    if (this.failures.length > 0 && !this.options.onFailure) {
      const first = this.failures[0]!;
      const more = this.result.failures - 1;
      throw new JobFailedError(
        `operator '${first.operator}' failed${first.key === undefined ? '' : ` on key ${first.key}`}: ${first.error.message}` +
          (more > 0 ? ` (and ${more} more failure${more > 1 ? 's' : ''}${this.result.failures > KEPT_FAILURES ? `; the first ${KEPT_FAILURES} are in error.failures` : ''})` : '') +
          '; attach env.onError(handler) to handle failed records and keep going',
        { cause: first.error, failure: first, failures: this.failures, result: this.result },
      );
    }
    for (const [handler, { count, first }] of this.handlerErrors) throw new HandlerError(handler, count, first, this.result);
    return this.result;
  }

  private startStages(handles: unknown[]): Promise<StageReport[][]> {
    const runs: Promise<StageReport[]>[] = [];
    let next = 0;
    let slot = 0;
    for (const vertex of this.plan.vertices) {
      if (vertex.kind !== 'worker') continue;
      const tasks = Array.from({ length: vertex.parallelism }, (_, instance) => this.stageTask(vertex, instance, handles[next++], slot++));
      const reports = Promise.all(
        tasks.map((data, instance) =>
          this.pool.run<StageReport>({ module: STAGE_MODULE, export: 'runStage', data }).catch((error: unknown) => {
            // Name the stage whose thread died: the pool only knows a worker exited.
            const stage = `stage '${vertexName(vertex)}'${vertex.parallelism > 1 ? ` (instance ${instance} of ${vertex.parallelism})` : ''}`;
            throw new JobFailedError(`the pipeline failed: the worker thread running ${stage} failed: ${messageOf(error)}`, {
              cause: error,
              result: this.tally(),
              workerCrashed: true,
            });
          }),
        ),
      );
      runs.push(
        reports.then((r) => {
          this.result.stages[vertexName(vertex)] = r.reduce((n, x) => n + x.records, 0);
          for (const report of r) if (report.tables) this.finalTables.push(report.tables);
          return r;
        }),
      );
    }
    return Promise.all(runs);
  }

  private stageTask(vertex: Vertex, instance: number, services: unknown, counterSlot: number): StageTask {
    const chain: ChainNode[] = vertex.nodes.map((n) => ({ name: n.name, spec: n.spec }));
    return {
      name: vertexName(vertex),
      instance,
      parallelism: vertex.parallelism,
      input: this.inputs.get(vertex)![instance]!.buffer,
      producers: producerCount(vertex),
      chain,
      outputs: vertex.outputs.map((edge) => this.edgeTask(edge, instance)),
      channel: this.channel.buffer,
      processingTime: vertex.nodes.some((n) => n.spec.kind === 'window' && n.spec.window.on === 'processingTime'),
      inputKeys: vertex.inputs.reduce<(FnRef | undefined)[]>((keys, e) => ((keys[e.port] = e.partition.kind === 'hash' ? e.partition.key : undefined), keys), []),
      services,
      zeroCopyVectors: this.options.zeroCopyVectors,
      arenas: this.arenas,
      shared: this.options.shared ?? {},
      counters: this.counters.buffer,
      counterSlot,
      state: this.stageState(vertex, instance),
      noTables: this.noTables,
    };
  }

  private stageState(vertex: Vertex, instance: number): StageStateTask | undefined {
    const state = this.options.state;
    if (!state || vertex !== this.tableVertex) return undefined;
    return {
      tables: state.tables,
      maxParallelism: this.options.maxParallelism ?? 128,
      partition: partitionName(vertex, instance),
      store: state.store,
      checkpoint: state.checkpoint,
    };
  }

  private edgeTask(edge: VertexEdge, instance: number): EdgeTask {
    return {
      rings: this.inputs.get(edge.to)!.map((r) => r.buffer),
      partition: edge.partition,
      port: edge.port,
      producer: edge.producerBase + instance,
      maxParallelism: this.options.maxParallelism ?? 128,
    };
  }

  private startSources(): Promise<void>[] {
    const vertices = this.plan.vertices.filter((v) => v.kind === 'source');
    let created = 0;
    const checkpointing = this.options.state?.checkpointing;
    return vertices.map(async (vertex) => {
        const node = vertex.nodes[0]!;
        if (node.spec.kind !== 'source') throw new RingflowError('ERR_INTERNAL', 'a source vertex without a source');
        const writer = await EdgeWriter.open(vertex.outputs.map((e) => this.edgeTask(e, 0)), 0, (record, error) =>
          this.dispatch({ type: 'failure', operator: node.name, key: undefined, record, error: { name: error.name, message: error.message, stack: error.stack, code: error.code } }),
        );
        const driver = new SourceDriver(node.spec.source, this.timing.get(node) ?? { outOfOrdernessMs: 0 }, writer, this.abort.signal, (record, error) =>
          this.report(
            error instanceof KeySelectorError
              ? { operator: error.operator, key: undefined, record: error.record, error }
              : { operator: node.name, key: undefined, record, error: toError(error) },
          ),
          checkpointing ? { resume: checkpointing.resume(node.name), atEnd: checkpointing.atEnd } : undefined,
        );
        this.sourceDrivers.set(node.name, driver);
        if (++created === vertices.length) this.sourcesCreated();
        if (this.stopping) driver.stop();
        await driver.run();
        this.result.sources[node.name] = driver.records;
      });
  }

  /** Failures and side outputs from the workers, until the job ends. */
  private async pumpChannel(): Promise<void> {
    for (;;) {
      const more = await this.channel.readable();
      this.takeReports();
      // barrier() takes reports too: a wake-up may find the channel already drained.
      if (!more && this.channel.closed) return;
    }
  }

  /** Dispatches what the channel holds now. */
  private takeReports(): void {
    const messages: ChannelMessage[] = [];
    this.channel.drain((type, data, offset) => {
      if (kindOf(type) === FrameKind.Value) messages.push(decodeEnvelope(data, offset).value as ChannelMessage);
    });
    for (const message of messages) this.dispatch(message);
  }

  private dispatch(message: ChannelMessage): void {
    if (message.type === 'checkpoint') {
      this.options.state?.written(message.partition, message.written);
      return;
    }
    if (message.type === 'stateError') {
      this.options.state?.writeFailed(message.partition, reviveError(message.error));
      return;
    }
    if (message.type === 'failure') {
      const error = reviveError(message.error, { operator: message.operator, key: message.key, record: message.record });
      this.report({ operator: message.operator, key: message.key, record: message.record, error });
    } else {
      this.result.sideOutputs++;
      const output: SideOutput = { operator: message.operator, tag: message.tag, value: message.value };
      if (this.options.onSideOutput) this.callHandler('onSideOutput', this.options.onSideOutput, output);
      else if (this.result.late.length < 10_000) this.result.late.push(output);
    }
  }

  /**
   * A failed record: to the handler (contained: what it throws is kept for HandlerError), else
   * kept (the first KEPT_FAILURES; all are counted). Also how a source connector reports a record
   * that cannot enter the pipeline.
   */
  report(failure: OperatorFailure): void {
    this.result.failures++;
    if (this.options.onFailure) this.callHandler('onError', this.options.onFailure, failure);
    else if (this.failures.length < KEPT_FAILURES) this.failures.push(failure);
  }

  /** Calls a user handler; what it throws (or its promise rejects with) is kept for HandlerError, never let loose. */
  private callHandler<T>(name: 'onError' | 'onSideOutput', handler: (value: T) => unknown, value: T): void {
    try {
      const result = handler(value);
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        const settled: Promise<void> = Promise.resolve(result).then(
          (): void => void this.handlerPromises.delete(settled),
          (error: unknown): void => {
            this.handlerPromises.delete(settled);
            this.handlerFailed(name, error);
          },
        );
        this.handlerPromises.add(settled);
      }
    } catch (error) {
      this.handlerFailed(name, error);
    }
  }

  private handlerFailed(name: 'onError' | 'onSideOutput', error: unknown): void {
    const seen = this.handlerErrors.get(name);
    if (seen) seen.count++;
    else this.handlerErrors.set(name, { count: 1, first: error });
  }
}

/** Resolves or rejects as `promise` does, or rejects with TimeoutError after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`not done within ${ms} ms`)), ms);
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

