import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { AbortError, checkOptions, InvalidArgumentError, TimeoutError } from '../../errors.js';
import { checkThreadPriority, type ThreadPriority } from '../../pool/index.js';
import type { SharedRing } from '../../ring/index.js';
import { ServiceManager, type RegisterServiceOptions, type ServiceClientHandle, type ServiceStatus } from '../../service/index.js';
import { DataStream, type GraphOwner } from './data-stream.js';
import { StreamGraph, type GraphNode, type SourceSpec } from '../plan/graph.js';
import { Job, type JobResult, type JobSnapshot, type OperatorFailure, type SideOutput } from '../runtime/job.js';
import { describePlan, plan, planGraph, type PlanGraph } from '../plan/planner.js';
import type { SourceTiming, STOP } from '../runtime/source-driver.js';
import type { FeedArena } from '../batches/feed-arena.js';
import { environmentConnectors, isTransactionalSink, runConnectors, sourceFeed, type SourceConnector } from './connector.js';
import {
  DEFAULT_MAX_PARALLELISM,
  FileStateStore,
  TableDeclaration,
  checkMaxParallelism,
  storedDeclarations,
  type StateStore,
  type StateWarning,
  type TableOptions,
} from '../../state/index.js';
import { toFnRef } from '../plan/function-check.js';
import { tableVertex } from '../runtime/job.js';
import type { TableSpec } from '../runtime/stage-state.js';
import { StatefulRun, type TransactionalSink } from '../runtime/stateful-run.js';
import { TablesReader } from './tables.js';

export interface StreamEnvironmentOptions {
  /** Default parallelism of every operator. Default: the machine's available parallelism. */
  workers?: number;
  /** Bytes of each ring between stages (a power of two). Default 4 MiB. */
  ringCapacity?: number;
  /**
   * Operators in workers get vector records whose vector is a view over the ring (no copy),
   * valid only during the call: for operators that keep no record (map, filter, topK …; the
   * built-in windows and joins copy what they keep). Default false: every record owns its memory.
   */
  zeroCopyVectors?: boolean;
  /**
   * Scheduling priority of the operator threads (Linux). Default 'belowNormal': when cores are
   * short, the main thread's event loop gets the CPU first; otherwise workers run flat out.
   */
  workerPriority?: ThreadPriority;
  /**
   * Heap limits of each operator thread, as Node's Worker takes them (`maxYoungGenerationSizeMb`,
   * `maxOldGenerationSizeMb`, `codeRangeSizeMb`, `stackSizeMb`). Default: V8's. Operators that keep
   * little between records run well with a small young generation, which takes less memory: see
   * README, "Footprint".
   */
  workerResourceLimits?: ResourceLimits;
  /** The application's name in its state folder (required with stateDir / stateStore): `<stateDir>/<appId>/`. */
  appId?: string;
  /** Where tables are checkpointed (the embedded FileStateStore). execute() with the same appId and stateDir recovers. */
  stateDir?: string;
  /** Another StateStore instead of stateDir (e.g. JetStream KV); it must offer workerFactory() to hold tables. */
  stateStore?: StateStore;
  /** How often a checkpoint is taken (ms), with stateDir / stateStore. Default 1000. */
  checkpointIntervalMs?: number;
  /** Key groups of keyBy (fixed for a state's life; a keyed stage's parallelism may not exceed it). Default 128. */
  maxParallelism?: number;
  /** A crashed worker rolls the job back to its last checkpoint up to `maxRestarts` times (needs a store and replayable sources). */
  restart?: { maxRestarts: number };
}

/** A warning of the state runtime: what recovery found (a torn tail, …), a restart after a crash. */
export interface JobWarning {
  code: string;
  message: string;
  file?: string;
  offset?: number;
  bytes?: number;
  cause?: Error;
}

const RESOURCE_LIMIT_KEYS = ['maxYoungGenerationSizeMb', 'maxOldGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const satisfies readonly (keyof ResourceLimits)[];

function checkResourceLimits(limits: ResourceLimits | undefined): ResourceLimits | undefined {
  if (limits === undefined) return undefined;
  if (typeof limits !== 'object' || limits === null) throw new InvalidArgumentError(`workerResourceLimits must be an object, got ${String(limits)}`);
  checkOptions('workerResourceLimits', limits, RESOURCE_LIMIT_KEYS);
  for (const key of RESOURCE_LIMIT_KEYS) {
    const value = limits[key];
    if (value !== undefined && !(typeof value === 'number' && value > 0 && Number.isFinite(value))) {
      throw new InvalidArgumentError(`workerResourceLimits.${key} must be a positive number of MB, got ${String(value)}`);
    }
  }
  return { ...limits };
}

export interface RunningJob {
  /**
   * Settles as execute() does: the result, or a coded error — JobFailedError (ERR_JOB_FAILED),
   * HandlerError (ERR_HANDLER_FAILED), or JobCancelledError (an AbortError, ABORT_ERR) once cancelled.
   */
  readonly done: Promise<JobResult>;
  /**
   * Cancels the job: sources stop, every worker thread is terminated (also one stuck in a loop),
   * and `done` rejects with JobCancelledError. A no-op once the job has ended.
   */
  cancel(reason?: unknown): void;
  /** Resolves once a FeedBarrier of `epoch` has reached every sink (and lets gated sinks deliver up to it). */
  barrier(epoch: number): Promise<void>;
  /**
   * Ends every source early, as if exhausted: what they already sent drains through the pipeline
   * and `done` resolves as usual (the graceful stop of `ringflow run`'s first Ctrl-C).
   */
  stop(): void;
  /** What the job has done so far (records per source and sink, each stage instance's backlog). */
  snapshot(): JobSnapshot;
  /** Opens gated sinks for good: they pass on what they hold and all that follows, or (`deliver: false`) drop it. */
  releaseSinks(options?: { deliver?: boolean }): void;
}

export interface ExecuteOptions {
  /** Cancels the job when it fires (as job.cancel(signal.reason)). */
  signal?: AbortSignal;
}

export interface CloseOptions {
  /** How long close() waits for the services to stop before it rejects with TimeoutError (ms). Default 15 000. */
  timeoutMs?: number;
}

/** See StreamEnvironment.metrics(). */
export interface EnvironmentMetrics {
  /** The current job's progress (the last job's, once it ended); undefined before the first start(). */
  job: JobSnapshot | undefined;
  running: boolean;
  services: ServiceStatus[];
}

export interface SourceOptions<T = unknown> {
  name?: string;
  /** Event time of each record (ms); default: the time it enters the pipeline. */
  timestamp?: (value: T) => number;
  /** How far the watermark trails the largest timestamp seen (ms). Default 0. */
  outOfOrdernessMs?: number;
}

const ENVIRONMENT_OPTIONS = [
  'workers',
  'ringCapacity',
  'zeroCopyVectors',
  'workerPriority',
  'workerResourceLimits',
  'appId',
  'stateDir',
  'stateStore',
  'checkpointIntervalMs',
  'maxParallelism',
  'restart',
] as const satisfies readonly (keyof StreamEnvironmentOptions)[];
const SOURCE_OPTIONS = ['name', 'timestamp', 'outOfOrdernessMs'] as const satisfies readonly (keyof SourceOptions)[];
const FEED_OPTIONS = [...SOURCE_OPTIONS, 'arena'] as const;

/**
 * Where pipelines are built and run. Sources and sinks run on the main thread (never blocking
 * it); every other operator runs in a Piscina pool, chained where no shuffle is needed, each
 * parallel instance fed by its own SharedRing.
 */
export class StreamEnvironment implements GraphOwner {
  readonly graph = new StreamGraph();
  readonly parallelism: number;
  readonly ringCapacity: number;
  readonly zeroCopyVectors: boolean;
  readonly workerPriority: ThreadPriority;
  readonly workerResourceLimits: ResourceLimits | undefined;
  private readonly timing = new Map<GraphNode, SourceTiming>();
  private readonly names = new Map<string, number>();
  private failureHandler?: (failure: OperatorFailure) => unknown;
  private sideOutputHandler?: (output: SideOutput) => unknown;
  private running = false;
  /** The running job's end (settled either way), for close() to wait on. */
  private runningDone: Promise<unknown> | undefined;
  private serviceManager: ServiceManager | undefined;
  private readonly sharedBuffers: Record<string, SharedArrayBuffer> = {};
  private currentJob: Job | undefined;
  private currentRun: StatefulRun | undefined;
  readonly maxParallelism: number;
  readonly appId: string | undefined;
  readonly checkpointIntervalMs: number;
  readonly maxRestarts: number;
  /** Where checkpoints go (stateDir's FileStateStore, or stateStore); undefined: no checkpoints. */
  readonly stateStore: StateStore | undefined;
  private readonly declarations: TableDeclaration<any>[] = [];
  private warningHandler?: (warning: JobWarning) => unknown;
  /** `env.tables.get(name, key)` / `entries(name)`: see TablesReader. */
  readonly tables: TablesReader;

  constructor(options: StreamEnvironmentOptions = {}) {
    checkOptions('StreamEnvironment', options, ENVIRONMENT_OPTIONS);
    this.parallelism = options.workers ?? availableParallelism();
    if (!Number.isInteger(this.parallelism) || this.parallelism < 1) {
      throw new InvalidArgumentError(`workers must be a positive integer, got ${String(options.workers)}`);
    }
    this.maxParallelism = options.maxParallelism ?? DEFAULT_MAX_PARALLELISM;
    checkMaxParallelism(this.maxParallelism);
    if (options.stateDir !== undefined && options.stateStore !== undefined) {
      throw new InvalidArgumentError('StreamEnvironment: give stateDir or stateStore, not both');
    }
    const durable = options.stateDir !== undefined || options.stateStore !== undefined;
    if (durable && options.appId === undefined) throw new InvalidArgumentError('StreamEnvironment: stateDir / stateStore need an appId (the state folder is <stateDir>/<appId>)');
    if (options.appId !== undefined && !durable) throw new InvalidArgumentError('StreamEnvironment: appId names the state in stateDir / stateStore; give one of them too');
    this.appId = options.appId;
    if (options.stateDir !== undefined) {
      this.stateStore = new FileStateStore({ stateDir: options.stateDir, appId: options.appId! }); // checks both
    } else if (options.stateStore !== undefined) {
      const s = options.stateStore as Partial<StateStore> | null;
      if (s === null || typeof s !== 'object' || !['open', 'writer', 'commit', 'restore', 'close'].every((m) => typeof (s as Record<string, unknown>)[m] === 'function')) {
        throw new InvalidArgumentError('StreamEnvironment: stateStore must be a StateStore (open, writer, commit, restore, close)');
      }
      if (typeof options.appId !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(options.appId)) {
        throw new InvalidArgumentError(`an appId is 1-100 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(options.appId)}`);
      }
      this.stateStore = options.stateStore;
    }
    if (options.checkpointIntervalMs !== undefined) {
      if (!durable) throw new InvalidArgumentError('StreamEnvironment: checkpointIntervalMs needs stateDir or stateStore (there is nowhere to checkpoint to)');
      if (!Number.isSafeInteger(options.checkpointIntervalMs) || options.checkpointIntervalMs < 1) {
        throw new InvalidArgumentError(`checkpointIntervalMs must be a positive integer of ms, got ${String(options.checkpointIntervalMs)}`);
      }
    }
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? 1000;
    const restart = checkOptions('StreamEnvironment restart', options.restart, ['maxRestarts']);
    if (options.restart !== undefined) {
      if (!durable) throw new InvalidArgumentError('StreamEnvironment: restart rolls back to the last checkpoint, so it needs stateDir or stateStore');
      if (!Number.isSafeInteger(restart.maxRestarts) || restart.maxRestarts < 0) {
        throw new InvalidArgumentError(`restart.maxRestarts must be an integer ≥ 0, got ${String(restart.maxRestarts)}`);
      }
    }
    this.maxRestarts = restart.maxRestarts ?? 0;
    this.tables = new TablesReader(
      () => this.declarations,
      () => this.maxParallelism,
      () => ({ running: this.running, finalTables: this.currentRun?.finalTables, committed: this.currentRun?.committed, store: this.stateStore }),
    );
    this.ringCapacity = options.ringCapacity ?? 1 << 22;
    this.workerPriority = checkThreadPriority(options.workerPriority ?? 'belowNormal');
    this.workerResourceLimits = checkResourceLimits(options.workerResourceLimits);
    this.zeroCopyVectors = options.zeroCopyVectors === true;
  }

  /**
   * Declares a table (Faust's): operators of the keyed stage reach it as `ctx.table(name)`. The
   * default factory travels as source text, so it must capture nothing (`() => 0`). Chain
   * `.tumbling(sizeMs, { expiresMs })` or `.hopping(sizeMs, stepMs, { expiresMs })` for a windowed table.
   */
  table<V = unknown>(name: string, options: TableOptions<V> = {}): TableDeclaration<V> {
    if (this.running) throw new InvalidArgumentError('table() must be called before the environment executes');
    const declaration = new TableDeclaration<V>(name, options);
    if (declaration.default) toFnRef(declaration.default, `table '${name}' default`); // refuses a factory that captures
    storedDeclarations([...this.declarations, declaration]); // refuses a second table of the name
    this.declarations.push(declaration);
    return declaration;
  }

  /**
   * Receives the state runtime's warnings: what recovery found and dealt with (a torn tail, data
   * of a checkpoint that never committed) and restarts after a crashed worker. Without a handler
   * they go to process.emitWarning with their code. They are also in the job's result.
   */
  onWarning(handler: (warning: JobWarning) => unknown): this {
    if (typeof handler !== 'function') throw new InvalidArgumentError('onWarning needs a function (warning) => void');
    this.warningHandler = handler;
    return this;
  }

  fromIterable<T>(iterable: Iterable<T>, options: SourceOptions<T> = {}): DataStream<T> {
    if (iterable == null || typeof (iterable as Iterable<T>)[Symbol.iterator] !== 'function') {
      throw new InvalidArgumentError('fromIterable needs an iterable');
    }
    return this.source({ kind: 'iterable', iterable }, options);
  }

  fromAsyncIterable<T>(iterable: AsyncIterable<T>, options: SourceOptions<T> = {}): DataStream<T> {
    if (iterable == null || typeof (iterable as AsyncIterable<T>)[Symbol.asyncIterator] !== 'function') {
      throw new InvalidArgumentError('fromAsyncIterable needs an async iterable');
    }
    return this.source({ kind: 'asyncIterable', iterable }, options);
  }

  /** Calls `fn` on the main thread for each next record (it may return a promise); returning STOP ends the stream. */
  fromSource<T>(fn: () => T | typeof STOP | Promise<T | typeof STOP>, options: SourceOptions<Exclude<T, typeof STOP>> = {}): DataStream<Exclude<T, typeof STOP>> {
    if (typeof fn !== 'function') throw new InvalidArgumentError('fromSource needs a function that returns the next record or STOP');
    return this.source({ kind: 'function', fn }, options);
  }

  /** Reads a source connector (e.g. fromJetStream): its records are acked once they have reached the sinks. */
  from<T>(source: SourceConnector<T>, options: Omit<SourceOptions<T>, 'name'> = {}): DataStream<T> {
    return this.fromFeed<T>(sourceFeed(this, source), { ...options, name: source?.name });
  }

  /** Reads records from a SharedRing (e.g. another pipeline's ring sink) until it is closed and drained. */
  fromRing<T>(ring: SharedRing, options: SourceOptions<T> = {}): DataStream<T> {
    return this.source({ kind: 'ring', ring }, options);
  }

  /**
   * Handles failed records (an operator or sink threw on it, its key selector or timestamp
   * extractor failed, its timestamp is NaN); the pipeline keeps going. Without one, execute()
   * rejects after the run naming the first failure (the first 100 are kept, the rest counted).
   * If the handler itself throws (or returns a promise that rejects), the job still runs to its
   * end, and then execute() rejects with HandlerError (ERR_HANDLER_FAILED, `handler: 'onError'`).
   */
  onError(handler: (failure: OperatorFailure) => unknown): this {
    if (typeof handler !== 'function') throw new InvalidArgumentError('onError needs a function (failure) => void');
    this.failureHandler = handler;
    return this;
  }

  /** True once onError has been given a handler. */
  get hasErrorHandler(): boolean {
    return this.failureHandler !== undefined;
  }

  /**
   * Receives side outputs (records too late for their window, …). Without one they are kept in the
   * result. A handler that throws is treated as onError's (HandlerError, `handler: 'onSideOutput'`).
   */
  onSideOutput(handler: (output: SideOutput) => unknown): this {
    if (typeof handler !== 'function') throw new InvalidArgumentError('onSideOutput needs a function (output) => void');
    this.sideOutputHandler = handler;
    return this;
  }

  /**
   * The services operators call as `ctx.services.<name>.<method>(…)` (synchronously, in their
   * worker) and the main thread as `env.services.call(…)`. Created on first use.
   */
  get services(): ServiceManager {
    return (this.serviceManager ??= new ServiceManager());
  }

  /** Registers a service (see ServiceManager.registerService); execute() starts the services. */
  registerService(name: string, target: unknown, options?: RegisterServiceOptions): this {
    this.services.registerService(name, target, options);
    return this;
  }

  /**
   * Gives every operator `buffer` as `ctx.shared[name]` (one memory for the main thread and all
   * workers: counters, tables a layer above the stream keeps with its operators).
   */
  share(name: string, buffer: SharedArrayBuffer): this {
    if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('share needs a non-empty name');
    if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidArgumentError(`share('${name}') needs a SharedArrayBuffer`);
    if (this.running) throw new InvalidArgumentError('share() must be called before the environment executes');
    this.sharedBuffers[name] = buffer;
    return this;
  }

  /**
   * A snapshot of what is running: the current (or last) job's progress and each registered
   * service's status. Cheap: it reads counters the runtime keeps anyway.
   */
  metrics(): EnvironmentMetrics {
    const manager = this.serviceManager;
    return {
      job: this.currentRun ? this.currentRun.snapshot() : this.currentJob?.snapshot(),
      running: this.running,
      services: manager ? manager.names().map((name) => manager.status(name)) : [],
    };
  }

  /**
   * Cancels a running job (its execute() rejects with JobCancelledError) and waits for it to end,
   * then stops the services (draining their queues). Bounded: a service that does not stop within
   * `timeoutMs` makes close() reject with TimeoutError. Idempotent.
   */
  async close(options?: CloseOptions): Promise<void> {
    const { timeoutMs = 15_000 } = checkOptions('close', options, ['timeoutMs']);
    if (!(timeoutMs >= 0)) throw new InvalidArgumentError(`close timeoutMs must be >= 0, got ${String(timeoutMs)}`);
    if (this.running) this.cancelCurrent?.(new AbortError('the environment was closed'));
    // A cancelled job ends within its own bounds (threads are terminated, not waited for).
    await this.runningDone;
    const manager = this.serviceManager;
    if (!manager) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`the services did not stop within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([manager.stop(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The physical plan, one line per vertex (chains, parallelism, partitions). */
  explain(): string {
    return describePlan(plan(this.graph, this.parallelism, this.maxParallelism));
  }

  /** The physical plan as data: vertices (chains, parallelism) and the edges between them. */
  planGraph(): PlanGraph {
    return planGraph(plan(this.graph, this.parallelism, this.maxParallelism));
  }

  /**
   * Runs the pipeline; resolves when every source is exhausted and every record has reached its
   * sink (or been reported as failed). `signal` cancels it (see RunningJob.cancel).
   */
  async execute(options?: ExecuteOptions): Promise<JobResult> {
    return this.start(options).done;
  }

  /**
   * Starts the pipeline and returns at once: `done` settles as execute() would; `barrier(epoch)`
   * resolves when a FeedBarrier of that epoch, sent through a feed source, has reached every sink.
   */
  start(options?: ExecuteOptions): RunningJob {
    const { signal } = checkOptions('execute', options, ['signal']);
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('execute signal must be an AbortSignal');
    if (this.running) throw new InvalidArgumentError('this environment is already executing');
    const manager = this.serviceManager;
    const physical = plan(this.graph, this.parallelism, this.maxParallelism);
    const jobOptions = {
      services: manager && manager.names().length > 0
        ? {
            handle: async () => {
              await manager.start();
              return manager.clientHandle();
            },
            release: (handle: unknown) => manager.releaseClient(handle as ServiceClientHandle),
          }
        : undefined,
      ringCapacity: this.ringCapacity,
      zeroCopyVectors: this.zeroCopyVectors,
      workerPriority: this.workerPriority,
      workerResourceLimits: this.workerResourceLimits,
      shared: { ...this.sharedBuffers },
      onFailure: this.failureHandler,
      onSideOutput: this.sideOutputHandler,
      signal,
      maxParallelism: this.maxParallelism,
    };
    if (this.declarations.length > 0 || this.stateStore) return this.startStateful(physical, jobOptions);
    const job = new Job(physical, this.timing, jobOptions);
    this.running = true;
    this.currentJob = job;
    this.currentRun = undefined;
    const hooks = { barrier: (epoch: number) => job.barrier(epoch), report: (failure: OperatorFailure) => job.report(failure) };
    const connectors = runConnectors(this, hooks, job.run());
    const done = connectors.done.finally(() => {
      this.running = false;
      this.runningDone = undefined;
    });
    this.runningDone = done.catch(() => {});
    const stop = () => {
      job.stop();
      connectors.stop(); // a connector waiting for messages ends its batches
    };
    const cancel = (reason?: unknown) => {
      job.cancel(reason);
      connectors.stop();
    };
    this.cancelCurrent = cancel;
    return {
      done,
      stop,
      cancel,
      snapshot: () => job.snapshot(),
      barrier: (epoch) => job.barrier(epoch),
      releaseSinks: (options) => job.releaseSinks(options?.deliver ?? true),
    };
  }

  private cancelCurrent: ((reason?: unknown) => void) | undefined;

  /**
   * A job with tables or checkpoints: the store is opened first (a state of another app or of
   * other tables is refused before anything runs), then a StatefulRun runs the attempts.
   */
  private startStateful(physical: ReturnType<typeof plan>, jobOptions: ConstructorParameters<typeof Job>[2]): RunningJob {
    const tables: TableSpec[] = this.declarations.map((d) => ({
      name: d.name,
      ...(d.window ? { window: d.window } : {}),
      ...(d.default ? { default: toFnRef(d.default, `table '${d.name}' default`) as Extract<ReturnType<typeof toFnRef>, { kind: 'source' }> } : {}),
    }));
    tableVertex(physical, tables.map((t) => t.name)); // TablePlanError now, not after the store is opened
    const store = this.stateStore;
    let workerStore: { stateDir: string; appId: string } | { module: string; export: string; options: unknown } | undefined;
    if (store instanceof FileStateStore) workerStore = { stateDir: store.stateDir, appId: store.appId };
    else if (store && tables.length > 0) {
      if (typeof store.workerFactory !== 'function') {
        throw new InvalidArgumentError('this stateStore offers no workerFactory(): the keyed stage\'s workers cannot write their tables to it', 'ERR_STATE_STORE_WORKERS');
      }
      workerStore = store.workerFactory();
    }
    const { sources, sinks } = environmentConnectors(this);
    const transactional: TransactionalSink[] = [];
    for (const sink of sinks) {
      if (!isTransactionalSink(sink)) continue;
      if (transactional.some((t) => t.name === sink.name)) throw new InvalidArgumentError(`two transactional sinks are named '${sink.name}': a checkpoint stores their state by name`);
      transactional.push({
        name: sink.name,
        prepare: (id) => sink.prepare(id),
        commit: (id, state) => sink.commit(id, state),
        recover: (committed) => sink.recover(committed),
      });
    }
    const warnings: JobWarning[] = [];
    const warn = (warning: JobWarning) => {
      warnings.push(warning);
      if (this.warningHandler) {
        try {
          void Promise.resolve(this.warningHandler(warning)).catch(() => {});
        } catch {
          // a throwing warning handler must not stop the job
        }
      } else process.emitWarning(warning.message, { code: warning.code });
    };
    this.running = true;
    this.currentJob = undefined;
    this.currentRun = undefined;
    let stopped = false;
    let cancelled: { reason: unknown } | undefined;
    let stopConnectors = () => {};
    const started = (async () => {
      let checkpoint;
      if (store) {
        const opened = await store.open({ appId: this.appId!, maxParallelism: this.maxParallelism, tables: storedDeclarations(this.declarations) });
        for (const w of opened.warnings) warn({ ...w });
        checkpoint = opened.checkpoint;
      }
      if (cancelled) throw new AbortError(`the job was cancelled before it started: ${String(cancelled.reason)}`);
      const run = new StatefulRun({
        plan: physical,
        timing: this.timing,
        job: jobOptions,
        tables,
        store,
        workerStore,
        checkpoint,
        intervalMs: this.checkpointIntervalMs,
        maxRestarts: this.maxRestarts,
        sinks: transactional,
        connectorReplayable: (name) => sources.some((s) => s.name === name && s.replayable === true && typeof s.seek === 'function'),
        warn,
      });
      this.currentRun = run;
      const hooks = {
        barrier: (epoch: number) => run.current.barrier(epoch),
        report: (failure: OperatorFailure) => run.current.report(failure),
        checkpoints: store
          ? { resume: (name: string) => run.resumePosition(name), committedSink: (name: string) => run.committedSink(name) }
          : undefined,
      };
      const connectors = runConnectors(this, hooks, run.run());
      stopConnectors = connectors.stop;
      if (stopped) {
        run.stop();
        connectors.stop();
      }
      const result = await connectors.done;
      result.warnings = warnings;
      return result;
    })();
    const done = started.finally(() => {
      this.running = false;
      this.runningDone = undefined;
    });
    this.runningDone = done.catch(() => {});
    const stop = () => {
      stopped = true;
      this.currentRun?.stop();
      stopConnectors();
    };
    const cancel = (reason?: unknown) => {
      cancelled ??= { reason };
      this.currentRun?.cancel(reason);
      stopConnectors();
    };
    this.cancelCurrent = cancel;
    const empty: JobSnapshot = { sources: {}, sinks: {}, stages: [], failures: 0, sideOutputs: 0 };
    return {
      done,
      stop,
      cancel,
      snapshot: () => this.currentRun?.snapshot() ?? empty,
      barrier: (epoch) => (this.currentRun ? this.currentRun.current.barrier(epoch) : Promise.reject(new InvalidArgumentError('the job has not started yet'))),
      releaseSinks: (options) => this.currentRun?.current.releaseSinks(options?.deliver ?? true),
    };
  }

  /**
   * A source the caller feeds with batches of records and FeedBarriers (SageFlowService's queue).
   * SharedVectorBatches in the batches must come from `arena`, which the workers then read in place.
   */
  fromFeed<T>(batches: AsyncIterable<unknown[]>, options: SourceOptions<T> & { arena?: FeedArena } = {}): DataStream<T> {
    return this.source({ kind: 'feed', batches, arena: options.arena }, options);
  }

  nextName(kind: string): string {
    const n = (this.names.get(kind) ?? 0) + 1;
    this.names.set(kind, n);
    return n === 1 ? kind : `${kind}#${n}`;
  }

  private source<T>(spec: SourceSpec, options: SourceOptions<T>): DataStream<T> {
    checkOptions(`source '${options?.name ?? spec.kind}'`, options, spec.kind === 'feed' ? FEED_OPTIONS : SOURCE_OPTIONS);
    const outOfOrdernessMs = options.outOfOrdernessMs ?? 0;
    if (!(outOfOrdernessMs >= 0)) throw new InvalidArgumentError(`outOfOrdernessMs must be >= 0, got ${outOfOrdernessMs}`);
    if (options.timestamp !== undefined && typeof options.timestamp !== 'function') {
      throw new InvalidArgumentError('timestamp must be a function of the record');
    }
    const node = this.graph.add({ kind: 'source', source: spec, outOfOrdernessMs }, options.name ?? this.nextName('source'), []);
    this.timing.set(node, { timestamp: options.timestamp as ((value: unknown) => number) | undefined, outOfOrdernessMs });
    return new DataStream<T>(this, node);
  }
}
