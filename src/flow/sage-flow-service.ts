import { setTimeout as sleep } from 'node:timers/promises';
import { VectorReader, vectorRecordSize, writeVectorRecord, type VectorArray, type VectorDType } from '../codec/index.js';
import { InvalidArgumentError, TimeoutError, checkOptionKeys, checkOptions } from '../errors.js';
import type { ThreadPriority } from '../pool/index.js';
import { SharedRing, type RingStats } from '../ring/index.js';
import {
  batchRows,
  rowBytes,
  FeedArena,
  FeedBarrier,
  SharedVectorBatch,
  StreamEnvironment,
  VectorBatch,
  type DataStream,
  type OperatorFailure,
  type RunningJob,
  type VectorRecord,
} from '../stream/index.js';
import { SageFlowCloseTimeoutError, SageFlowQueueFullError, SageFlowRunError, SageFlowSinkError, SageFlowStateError } from './errors.js';
import { FeedQueue } from './feed-queue.js';
import { checkDim, checkDType, checkUid, checkVectorFor, copyVector, toUid } from './vector-input.js';


export interface SageFlowServiceOptions {
  /** Vector dimension. Default 4. */
  dim?: number;
  /** Element type, honoured end to end. Default 'Float32'. */
  dtype?: VectorDType;
  /** Worker threads (parallelism of each operator). Default: available parallelism. */
  workers?: number;
  /** Operators get vectors as views over the ring, valid during the call (see StreamEnvironment). Default false. */
  zeroCopyVectors?: boolean;
  /** Scheduling priority of the worker threads (see StreamEnvironment). Default 'belowNormal'. */
  workerPriority?: ThreadPriority;
  /**
   * Bytes of the ring other threads push into (a power of two). Default 4 MiB. Once a thread has
   * the service's `handle`, the main thread moves what arrives there into the queue as it comes
   * (up to `queueMemory`), run() or not.
   */
  inboxCapacity?: number;
  /**
   * How long a push from another thread waits for room when the queue (`queueMemory`) and the
   * inbox are full, before it throws SageFlowQueueFullError (ERR_QUEUE_FULL). Default 10 000 ms.
   */
  pushTimeoutMs?: number;
  /**
   * Once the pipeline is deployed (by the first run()), a batch of pushes that fills up between
   * runs goes to the workers at once, so they process it while you push the rest; the sink still
   * gets the results only during the run() that takes them (they wait in shared memory till
   * then). Operators may so run before run() is called. False: operators run only inside run(),
   * as in SAGE. Default true.
   */
  eager?: boolean;
  /**
   * Shared memory (bytes) this thread's pushes are queued in, where the workers read them in place.
   * Address space is reserved up front and memory taken as the queue first grows; what grew is
   * kept for reuse. Pushes beyond it queue in private memory and are copied in by run(). Default 256 MiB.
   */
  queueMemory?: number;
}

/**
 * `(uid, ts, vector, record)`: ts is the processing time (ms) at which run() took the vector from
 * the queue into the pipeline (where SAGE's source stamps it: one clock read per run, none per push);
 * `record` is the whole result when your operators made something richer than a vector record
 * (e.g. topK's `{ record, hits }`), else undefined.
 */
export type VectorSink = (uid: bigint, ts: number, vector: VectorArray, record: unknown) => unknown;

/** What a worker thread needs to push into a service: pass `svc.handle` to it (structured-cloneable). */
export interface SageFlowHandle {
  readonly inbox: SharedArrayBuffer;
  readonly dim: number;
  readonly dtype: VectorDType;
  readonly pushTimeoutMs: number;
}

const OPTION_KEYS = ['dim', 'dtype', 'workers', 'zeroCopyVectors', 'workerPriority', 'inboxCapacity', 'pushTimeoutMs', 'eager', 'queueMemory'];

const VECTOR_FRAME = 2;
/** Spare private batches kept for reuse, by memory: up to 64 MiB of them. */
const SPARE_BYTES = 64 * 2 ** 20;
const QUEUE_MEMORY = 256 * 2 ** 20;
const PUSH_TIMEOUT_MS = 10_000;
/** How long close() waits for the last run and the pipeline's end before it cancels them. */
const CLOSE_TIMEOUT_MS = 30_000;
/** Frames the inbox pump moves per pass before it lets the event loop run. */
const PUMP_PASS_FRAMES = 4096;
/** How long the inbox pump waits for a frame at a time before it looks again (at close, say). */
const STALL_CHECK_MS = 100;
/** A claim left unpublished this long belongs to a thread that died between claim and commit. */
const UNBLOCK_AFTER_MS = 1000;
/** Operator failures a failed run keeps (it counts the rest). */
const KEPT_FAILURES = 100;

/** A batch push() fills: in the shared queue arena, or private when the arena is full. */
type QueueBatch = SharedVectorBatch | VectorBatch;

/**
 * SAGE-Flow's micro-service facade: push vectors, run the pipeline over everything queued so far,
 * get the results in a sink. The pipeline (source → your operators → sink) is deployed on the
 * first run() and stays up between runs; run() feeds the queue through it and resolves once all
 * of it has reached the sink.
 *
 * ```ts
 * const svc = new SageFlowService({ dim: 4 });
 * svc.setSink((uid, ts, vec) => console.log(uid, vec));
 * svc.push(1n, [0.1, 0.2, 0.3, 0.4]);
 * await svc.run(); // 1
 * ```
 */
export class SageFlowService {
  readonly dim: number;
  readonly dtype: VectorDType;
  /** The StreamEnvironment the pipeline runs in, for custom operators (see `transform`). */
  readonly env: StreamEnvironment;

  /** Pushes not yet run, in columnar batches (sent a frame per batch): this thread's and, moved in, other threads'. */
  private queue: QueueBatch[] = [];
  /** Batches of the next run already in the pipeline (eager). */
  private sent: SharedVectorBatch[] = [];
  private readonly eager: boolean;
  /** A run is taking its records through the pipeline: pushes meanwhile wait for the next run. */
  private inRun = false;
  /** Fails the run waiting for its barrier, when the job ends first. */
  private failRun: ((reason: unknown) => void) | undefined;
  private jobEnd: { reason: unknown } | undefined;
  /** Reads what other threads pushed (one reader serves the inbox's whole region). */
  private readonly inboxReader: VectorReader;
  private readonly arena: FeedArena;
  private queuedCount = 0;
  private readonly rowsPerBatch: number;
  /** Batches a finished run has sent on, reused by push (allocating them is a large part of its cost). */
  private readonly spare: VectorBatch[] = [];
  private readonly maxSpare: number;
  private readonly inbox: SharedRing;
  private readonly pushTimeoutMs: number;
  /** Moves the inbox into the queue as other threads push (from the first `handle` until close). */
  private pump: Promise<void> | undefined;
  /** Wakes the pump when a run has given queue memory back. */
  private roomFreed: (() => void) | undefined;
  private sink: { fn: VectorSink; name: string; vectorViews: boolean } | undefined;
  private transformFn: ((stream: DataStream<VectorRecord>) => DataStream<unknown>) | undefined;
  private feed: FeedQueue<unknown> | undefined;
  private job: RunningJob | undefined;
  private epoch = 0;
  private running: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** What went wrong since the last run ended: the sink's first error, operators' failures (when no onError is set). */
  private sinkError: { cause: unknown; count: number } | undefined;
  private failures: OperatorFailure[] = [];
  private failureCount = 0;

  constructor(options: SageFlowServiceOptions = {}) {
    checkOptionKeys('SageFlowService', options, OPTION_KEYS);
    this.dim = checkDim(options.dim ?? 4);
    this.dtype = checkDType(options.dtype ?? 'Float32');
    this.pushTimeoutMs = checkTimeout(options.pushTimeoutMs ?? PUSH_TIMEOUT_MS, 'pushTimeoutMs');
    this.env = new StreamEnvironment({ workers: options.workers, zeroCopyVectors: options.zeroCopyVectors, workerPriority: options.workerPriority });
    this.inbox = SharedRing.create({ capacity: options.inboxCapacity ?? 1 << 22, unblockAfterMs: UNBLOCK_AFTER_MS });
    this.inboxReader = new VectorReader(this.inbox.data);
    this.rowsPerBatch = batchRows(this.dim, this.dtype, this.env.ringCapacity >>> 1);
    this.arena = new FeedArena(options.queueMemory ?? QUEUE_MEMORY);
    this.eager = options.eager ?? true;
    this.maxSpare = Math.max(1, Math.floor(SPARE_BYTES / (this.rowsPerBatch * rowBytes(this.dim, this.dtype))));
  }

  /**
   * Gives another thread a producer: `SageFlowService.connect(svc.handle).push(uid, vec)`. From the
   * first call on, the main thread moves what other threads push into the queue as it arrives, so
   * they never wait for a run() while there is queueMemory left (and the service keeps the
   * process alive until close()).
   */
  get handle(): SageFlowHandle {
    this.startPump();
    return { inbox: this.inbox.buffer, dim: this.dim, dtype: this.dtype, pushTimeoutMs: this.pushTimeoutMs };
  }

  static connect(handle: SageFlowHandle, options: { pushTimeoutMs?: number } = {}): SageFlowProducer {
    return new SageFlowProducer(handle, checkOptions('SageFlowService.connect', options, ['pushTimeoutMs']));
  }

  /**
   * Where results go; the last call wins. Must be set before the first run(). With
   * `vectorViews: true` the vector is a view over shared memory, valid only until the callback
   * returns (faster; copy it to keep it); by default it is the callback's own copy. A callback
   * that throws (or whose promise rejects) fails the run() it was called in with
   * SageFlowSinkError (ERR_SINK_FAILED); later runs go on.
   */
  setSink(callback: VectorSink, name = 'sink', options: { vectorViews?: boolean } = {}): this {
    if (typeof callback !== 'function') throw new TypeError('setSink needs a callback (uid, ts, vector) => void');
    checkOptionKeys('SageFlowService.setSink', options, ['vectorViews']);
    this.assertNotStarted('setSink');
    this.sink = { fn: callback, name, vectorViews: options.vectorViews === true };
    return this;
  }

  /**
   * Inserts operators between the queue and the sink: `svc.transform((s) => s.filter(…).map(…))`.
   * Records are `{ uid, ts, vector }`; what reaches the sink with those fields is passed as
   * (uid, ts, vector), and the whole record as the 4th argument. Before the first run() only.
   */
  transform<R>(fn: (stream: DataStream<VectorRecord>) => DataStream<R>): this {
    this.assertNotStarted('transform');
    this.transformFn = fn as unknown as (stream: DataStream<VectorRecord>) => DataStream<unknown>;
    return this;
  }

  /**
   * Queues one vector (converted to the dtype). A wrong length throws a RangeError with code
   * ERR_DIM_MISMATCH, non-numbers a TypeError; either way nothing is queued.
   */
  push(uid: bigint | number, vec: ArrayLike<number>): void {
    if (this.closed) throw new SageFlowStateError('push after close()');
    const id = checkUid(uid);
    let batch = this.queue[this.queue.length - 1];
    if (batch === undefined || batch.full) {
      // The first push deploys the pipeline: its threads start while the caller pushes on.
      if (this.job === undefined && this.sink !== undefined) this.ensureStarted();
      this.queue.push((batch = this.emptyBatch()));
    }
    copyVector(vec, this.dim, batch.data, batch.count * this.dim);
    batch.commitUid(id);
    this.queuedCount++;
    if (batch.full) this.batchFilled();
  }

  /** A queue batch is full: eager, it goes to the workers now. */
  private batchFilled(): void {
    if (this.eager && this.feed !== undefined && !this.inRun) this.sendEarly();
  }

  /**
   * Puts the queue's full batches into the pipeline before run() (eager), oldest first, as far as
   * they can go at once; order is kept, so it stops at the first that cannot.
   */
  private sendEarly(): void {
    for (;;) {
      const batch = this.queue[0];
      if (!(batch instanceof SharedVectorBatch) || !batch.full) return;
      // Stamped now: the time it enters the pipeline, as run() stamps the rest.
      batch.stampAll(Date.now());
      if (!this.feed!.sendNow(batch)) return;
      this.queue.shift();
      this.sent.push(batch);
    }
  }

  /** Vectors waiting for the next run() (this thread's pushes, and other threads' moved in from the inbox). */
  get queued(): number {
    return this.queuedCount;
  }

  /** The inbox ring's counters (what other threads pushed and not yet moved in; `unblocked`: dead pushers' claims skipped). */
  inboxStats(): RingStats {
    return this.inbox.stats();
  }

  /**
   * Runs everything queued so far through the pipeline once; resolves with how many vectors it
   * took (0 when none). Runs never overlap: a second call waits for the first. Without a sink it
   * rejects (ERR_SERVICE_STATE) and keeps the queue. When the sink threw in this run it rejects
   * with SageFlowSinkError, when operators threw (and `env.onError` is not set) with
   * SageFlowRunError — in both cases after the rest of the run has reached the sink.
   */
  run(): Promise<number> {
    if (this.closed) return Promise.reject(new SageFlowStateError('run after close()'));
    const next = this.running.then(() => this.runOnce());
    this.running = next.catch(() => undefined);
    return next;
  }

  /**
   * Lets runs already asked for finish, runs once more what was pushed since (so nothing accepted
   * is dropped; without a sink those vectors are dropped with a process warning), and frees the
   * worker threads. Pushes from other threads are refused from here on (RingClosedError). Rejects
   * when that last run fails or the pipeline failed. Bounded by `timeoutMs` (default 30 000; a
   * second call's options are not read): past it the pipeline is cancelled, its threads terminated,
   * and it rejects with SageFlowCloseTimeoutError (ERR_CLOSE_TIMEOUT).
   */
  close(options?: { timeoutMs?: number }): Promise<void> {
    let timeoutMs: number;
    try {
      timeoutMs = checkTimeout(checkOptions('SageFlowService.close', options, ['timeoutMs']).timeoutMs ?? CLOSE_TIMEOUT_MS, 'timeoutMs');
    } catch (error) {
      return Promise.reject(error);
    }
    return (this.closing ??= this.boundedShutDown(timeoutMs));
  }

  /** shutDown, or past `timeoutMs` the pipeline cancelled (its threads terminated) and SageFlowCloseTimeoutError. */
  private async boundedShutDown(timeoutMs: number): Promise<void> {
    if (!(timeoutMs <= 0x7fffffff)) return this.shutDown(); // Infinity: no bound
    const done = this.shutDown();
    // As the service manager bounds its stop: a race with an unreferenced sleep.
    if ((await Promise.race([done, sleep(timeoutMs, 'late' as const, { ref: false })])) !== 'late') return;
    done.catch(() => undefined); // ended by the cancel below; its error is the pipeline's, not news
    this.roomFreed?.();
    await this.env.close({ timeoutMs: Math.min(timeoutMs, 5000) }).catch(() => undefined);
    throw new SageFlowCloseTimeoutError(timeoutMs);
  }

  private async shutDown(): Promise<void> {
    this.closed = true;
    await this.running;
    this.inbox.close();
    this.roomFreed?.();
    await this.pump;
    let failure: unknown;
    if (this.queuedCount > 0 || this.sent.length > 0 || this.inbox.hasFrame()) {
      if (this.sink) await this.runOnce().catch((error: unknown) => (failure = error));
      else {
        const dropped = this.queuedCount + this.takeInbox([], Infinity, false);
        process.emitWarning(`SageFlowService.close() dropped ${dropped} queued vectors: no sink was set`, { code: 'RINGFLOW_FLOW_DROPPED' });
      }
    }
    if (this.job) {
      this.job.releaseSinks({ deliver: false });
      this.feed!.close();
      await this.job.done;
    }
    if (failure !== undefined) throw failure;
  }

  private async runOnce(): Promise<number> {
    if (!this.sink) throw new SageFlowStateError(`set a sink with setSink() before run() (the ${this.queuedCount} queued vectors are kept for the next run)`);
    this.inRun = true;
    try {
      return await this.takeQueue();
    } finally {
      this.inRun = false;
    }
  }

  private async takeQueue(): Promise<number> {
    const job = this.ensureStarted();
    const queued = this.queue;
    const sent = this.sent;
    let count = this.queuedCount;
    this.queue = [];
    this.sent = [];
    this.queuedCount = 0;
    count += this.takeInbox(queued, Infinity, false);
    if (count === 0) return 0;
    // The source's processing time: when this run took the records in.
    const now = Date.now();
    for (const batch of queued) batch.stampAll(now);
    const batches: unknown[] = queued;
    const epoch = ++this.epoch;
    const reached = job.barrier(epoch);
    batches.push(new FeedBarrier(epoch));
    this.feed!.push(batches);
    await this.untilReached(reached);
    // Everything before the barrier has gone through the pipeline: the batches can be refilled.
    for (const item of [...sent, ...batches]) {
      if (item instanceof SharedVectorBatch) this.arena.recycle(item);
      else if (item instanceof VectorBatch && this.spare.length < this.maxSpare) {
        item.clear();
        this.spare.push(item);
      }
    }
    this.roomFreed?.();
    this.throwRunFailure();
    return count;
  }

  /** Reports what went wrong in the run that just ended (the barrier has dispatched its failures), and forgets it. */
  private throwRunFailure(): void {
    const { sinkError, failures, failureCount } = this;
    this.sinkError = undefined;
    this.failures = [];
    this.failureCount = 0;
    if (failureCount > 0) throw new SageFlowRunError(failures, failureCount);
    if (sinkError) throw new SageFlowSinkError(this.sink!.name, sinkError.count, sinkError.cause);
  }

  /**
   * Waits for the run's barrier, or fails with the job's end. (Not a Promise.race against
   * job.done: that would add a reaction to the long-lived job.done on every run.)
   */
  private untilReached(reached: Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.jobEnd !== undefined) return reject(this.jobEnd.reason);
      this.failRun = reject;
      reached.then(resolve, reject);
    }).finally(() => (this.failRun = undefined));
  }

  private emptyBatch(): QueueBatch {
    return this.arena.take(this.dim, this.dtype, this.rowsPerBatch) ?? this.spare.pop() ?? new VectorBatch(this.dim, this.dtype, this.rowsPerBatch);
  }

  /** Room in the queue's shared memory for one more row. */
  private queueHasRoom(): boolean {
    const last = this.queue[this.queue.length - 1];
    return (last !== undefined && !last.full) || this.arena.hasRoom(this.dim, this.dtype, this.rowsPerBatch);
  }

  /**
   * Moves up to `maxFrames` of what other threads pushed onto the end of `batches` (copies: the
   * inbox space is reused); returns how many. `bounded`: only while the queue's shared memory has
   * room (the pump; a run takes everything).
   */
  private takeInbox(batches: QueueBatch[], maxFrames: number, bounded: boolean): number {
    const reader = this.inboxReader;
    const dim = this.dim;
    let batch = batches[batches.length - 1];
    let count = 0;
    this.inbox.drain((_type, _data, offset) => {
      reader.read(offset);
      if (batch === undefined || batch.full) batches.push((batch = this.emptyBatch()));
      batch.data.set(reader.vector(), batch.count * dim);
      batch.commitUid(reader.uid);
      count++;
      if (batch.full && bounded) {
        this.batchFilled();
        return this.queueHasRoom();
      }
      return true;
    }, maxFrames);
    if (batches === this.queue) this.queuedCount += count;
    return count;
  }

  private startPump(): void {
    if (this.pump !== undefined || this.closed) return;
    this.pump = this.pumpInbox();
  }

  /**
   * Moves other threads' pushes into the queue as they arrive, while the queue's shared memory
   * has room (past it, their pushes wait, then time out). A claim a dead thread left unpublished
   * cannot wedge the inbox: the ring revokes it while this waits (UNBLOCK_AFTER_MS).
   */
  private async pumpInbox(): Promise<void> {
    while (!this.closed) {
      if (!this.queueHasRoom()) {
        await new Promise<void>((resolve) => (this.roomFreed = resolve));
        this.roomFreed = undefined;
        continue;
      }
      let ready = false;
      try {
        // The ring revokes a claim that stays unpublished past its unblockAfterMs while this waits.
        ready = await this.inbox.readable(STALL_CHECK_MS);
      } catch (error) {
        if (!(error instanceof TimeoutError)) throw error;
      }
      if (this.closed) return;
      if (ready) {
        this.takeInbox(this.queue, PUMP_PASS_FRAMES, true);
        // The event loop gets a turn between passes.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  private ensureStarted(): RunningJob {
    if (this.job) return this.job;
    if (!this.sink) throw new SageFlowStateError('set a sink with setSink() before run()');
    const { fn } = this.sink;
    const sinkFailed = (cause: unknown): void => {
      if (this.sinkError) this.sinkError.count++;
      else this.sinkError = { cause, count: 1 };
    };
    // The sink's faults fail the run they happen in, not the pipeline.
    const guarded: VectorSink = (uid, ts, vector, record) => {
      let result: unknown;
      try {
        result = fn(uid, ts, vector, record);
      } catch (error) {
        sinkFailed(error);
        return undefined;
      }
      return result instanceof Promise ? result.catch(sinkFailed) : result;
    };
    // Operators' failures fail the run they happen in, unless the user takes them (env.onError).
    if (!this.env.hasErrorHandler) {
      this.env.onError((failure) => {
        if (this.failureCount++ < KEPT_FAILURES) this.failures.push(failure);
      });
    }
    this.feed = new FeedQueue<unknown>();
    let stream = this.env.fromFeed<unknown>(this.feed, { name: 'queue', timestamp: (r) => (r as VectorRecord).ts, arena: this.arena });
    if (this.transformFn) stream = this.transformFn(stream as DataStream<VectorRecord>);
    // Gated: results of batches sent early wait for the run() that takes them.
    stream.sinkVectors(guarded, { name: this.sink.name, vectorViews: this.sink.vectorViews, gated: true });
    this.job = this.env.start();
    // Surfaced by run() and close().
    this.job.done.then(
      () => this.endRuns(new SageFlowStateError('the pipeline ended during run()')),
      (error: unknown) => this.endRuns(error),
    );
    return this.job;
  }

  private endRuns(reason: unknown): void {
    this.jobEnd = { reason };
    this.failRun?.(reason);
  }

  private assertNotStarted(what: string): void {
    if (this.job) throw new SageFlowStateError(`${what}() must be called before the first run(): the pipeline is already deployed`);
  }
}

/**
 * Pushes into a SageFlowService from any thread. While the service's queue and inbox are full a
 * push blocks (never on the main thread), at most `pushTimeoutMs` (default: the service's), then
 * throws SageFlowQueueFullError (ERR_QUEUE_FULL) with nothing queued.
 */
export class SageFlowProducer {
  private readonly inbox: SharedRing;
  private readonly size: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly handle: SageFlowHandle,
    options: { pushTimeoutMs?: number } = {},
  ) {
    this.inbox = SharedRing.attach(handle.inbox);
    this.size = vectorRecordSize(handle.dim, handle.dtype);
    this.timeoutMs = checkTimeout(options.pushTimeoutMs ?? handle.pushTimeoutMs ?? PUSH_TIMEOUT_MS, 'pushTimeoutMs');
  }

  push(uid: bigint | number, vec: ArrayLike<number>): void {
    // Checked (also that it fits the dtype), then written straight into the claimed frame.
    const vector = checkVectorFor(vec, this.handle.dim, this.handle.dtype);
    const id = toUid(uid);
    // A claim the service revoked (this thread stalled past the inbox's unblockAfterMs) was
    // skipped unread: the vector goes again in a fresh one.
    for (;;) {
      let offset: number;
      try {
        offset = this.inbox.claim(VECTOR_FRAME, this.size, this.timeoutMs);
      } catch (error) {
        if (error instanceof TimeoutError) throw new SageFlowQueueFullError(this.timeoutMs, { cause: error });
        throw error;
      }
      try {
        // ts 0: the service stamps records when run() takes them (no clock read per push).
        writeVectorRecord(this.inbox.data, offset, id, 0, vector, this.handle.dtype);
      } catch (error) {
        this.inbox.abort(offset);
        throw error;
      }
      if (this.inbox.tryCommit(offset)) return;
    }
  }
}

function checkTimeout(ms: unknown, name: string): number {
  if (typeof ms !== 'number' || !(ms >= 0)) throw new InvalidArgumentError(`${name} must be a non-negative number of milliseconds (or Infinity), got ${String(ms)}`);
  return ms;
}
