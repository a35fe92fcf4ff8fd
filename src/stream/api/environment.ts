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
import { runConnectors, sourceFeed, type SourceConnector } from './connector.js';

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

const ENVIRONMENT_OPTIONS = ['workers', 'ringCapacity', 'zeroCopyVectors', 'workerPriority', 'workerResourceLimits'] as const satisfies readonly (keyof StreamEnvironmentOptions)[];
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

  constructor(options: StreamEnvironmentOptions = {}) {
    checkOptions('StreamEnvironment', options, ENVIRONMENT_OPTIONS);
    this.parallelism = options.workers ?? availableParallelism();
    if (!Number.isInteger(this.parallelism) || this.parallelism < 1) {
      throw new InvalidArgumentError(`workers must be a positive integer, got ${String(options.workers)}`);
    }
    this.ringCapacity = options.ringCapacity ?? 1 << 22;
    this.workerPriority = checkThreadPriority(options.workerPriority ?? 'belowNormal');
    this.workerResourceLimits = checkResourceLimits(options.workerResourceLimits);
    this.zeroCopyVectors = options.zeroCopyVectors === true;
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
      job: this.currentJob?.snapshot(),
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
    if (this.running) this.currentJob?.cancel(new AbortError('the environment was closed'));
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
    return describePlan(plan(this.graph, this.parallelism));
  }

  /** The physical plan as data: vertices (chains, parallelism) and the edges between them. */
  planGraph(): PlanGraph {
    return planGraph(plan(this.graph, this.parallelism));
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
    const job = new Job(plan(this.graph, this.parallelism), this.timing, {
      services: manager && manager.names().length > 0
        ? {
            handle: async () => {
              await manager.start();
              return manager.clientHandle();
            },
            release: (handle) => manager.releaseClient(handle as ServiceClientHandle),
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
    });
    this.running = true;
    this.currentJob = job;
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
    return {
      done,
      stop,
      cancel,
      snapshot: () => job.snapshot(),
      barrier: (epoch) => job.barrier(epoch),
      releaseSinks: (options) => job.releaseSinks(options?.deliver ?? true),
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
