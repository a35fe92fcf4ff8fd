import { VectorReader, vectorRecordSize, writeVectorRecord, type VectorArray, type VectorDType } from '../codec/index.js';
import { RingflowError } from '../errors.js';
import type { ThreadPriority } from '../pool/index.js';
import { SharedRing } from '../ring/index.js';
import { batchRows, rowBytes, FeedArena, FeedBarrier, SharedVectorBatch, StreamEnvironment, VectorBatch, type DataStream, type RunningJob, type VectorRecord } from '../stream/index.js';
import { FeedQueue } from './feed-queue.js';
import { checkDim, checkDType, checkUid, checkVector, copyVector, toUid } from './vector-input.js';

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
  /** Bytes of the ring other threads push into (a power of two). Default 4 MiB. */
  inboxCapacity?: number;
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
}

/** The service is closed, or its pipeline was changed after the first run. */
export class SageFlowStateError extends RingflowError {
  constructor(message: string) {
    super('ERR_SERVICE_STATE', message);
  }
}

const VECTOR_FRAME = 2;
/** Spare private batches kept for reuse, by memory: up to 64 MiB of them. */
const SPARE_BYTES = 64 * 2 ** 20;
const QUEUE_MEMORY = 256 * 2 ** 20;

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

  /** Pushes from this thread, in columnar batches (sent a frame per batch). */
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
  private sink: { fn: VectorSink; name: string; vectorViews: boolean } | undefined;
  private transformFn: ((stream: DataStream<VectorRecord>) => DataStream<unknown>) | undefined;
  private feed: FeedQueue<unknown> | undefined;
  private job: RunningJob | undefined;
  private epoch = 0;
  private running: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: SageFlowServiceOptions = {}) {
    this.dim = checkDim(options.dim ?? 4);
    this.dtype = checkDType(options.dtype ?? 'Float32');
    this.env = new StreamEnvironment({ workers: options.workers, zeroCopyVectors: options.zeroCopyVectors, workerPriority: options.workerPriority });
    this.inbox = SharedRing.create({ capacity: options.inboxCapacity ?? 1 << 22 });
    this.inboxReader = new VectorReader(this.inbox.data);
    this.rowsPerBatch = batchRows(this.dim, this.dtype, this.env.ringCapacity >>> 1);
    this.arena = new FeedArena(options.queueMemory ?? QUEUE_MEMORY);
    this.eager = options.eager ?? true;
    this.maxSpare = Math.max(1, Math.floor(SPARE_BYTES / (this.rowsPerBatch * rowBytes(this.dim, this.dtype))));
  }

  /** Gives another thread a producer: `SageFlowService.connect(svc.handle).push(uid, vec)`. */
  get handle(): SageFlowHandle {
    return { inbox: this.inbox.buffer, dim: this.dim, dtype: this.dtype };
  }

  static connect(handle: SageFlowHandle): SageFlowProducer {
    return new SageFlowProducer(handle);
  }

  /**
   * Where results go; the last call wins. Must be set before the first run(). With
   * `vectorViews: true` the vector is a view over shared memory, valid only until the callback
   * returns (faster; copy it to keep it); by default it is the callback's own copy.
   */
  setSink(callback: VectorSink, name = 'sink', options: { vectorViews?: boolean } = {}): this {
    if (typeof callback !== 'function') throw new TypeError('setSink needs a callback (uid, ts, vector) => void');
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
    if (batch === undefined || batch.full) this.queue.push((batch = this.emptyBatch()));
    copyVector(vec, this.dim, batch.data, batch.count * this.dim);
    batch.commitUid(id);
    this.queuedCount++;
    if (batch.full && this.eager && this.feed !== undefined && !this.inRun) this.sendEarly();
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

  /** Vectors waiting for the next run() (pushes from this thread; other threads' are in the inbox). */
  get queued(): number {
    return this.queuedCount;
  }

  /**
   * Runs everything queued so far through the pipeline once; resolves with how many vectors it
   * took (0 when none). Runs never overlap: a second call waits for the first.
   */
  run(): Promise<number> {
    const next = this.running.then(() => this.runOnce());
    this.running = next.catch(() => undefined);
    return next;
  }

  /** Lets the pipeline finish what it holds and frees the worker threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.running;
    this.inbox.close();
    if (this.job) {
      // What was pushed but never run stays undelivered, sent early or not.
      this.job.releaseSinks({ deliver: false });
      this.feed!.close();
      await this.job.done;
    }
  }

  private async runOnce(): Promise<number> {
    if (this.closed) throw new SageFlowStateError('run after close()');
    this.inRun = true;
    try {
      return await this.takeQueue();
    } finally {
      this.inRun = false;
    }
  }

  private async takeQueue(): Promise<number> {
    const queued = this.queue;
    const sent = this.sent;
    let count = this.queuedCount;
    this.queue = [];
    this.sent = [];
    this.queuedCount = 0;
    count += this.takeInbox(queued);
    if (count === 0) return 0;
    // The source's processing time: when this run took the records in.
    const now = Date.now();
    for (const batch of queued) batch.stampAll(now);
    const batches: unknown[] = queued;
    const job = this.ensureStarted();
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
    return count;
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

  /** Moves what other threads pushed into `batches` (copies: the inbox space is reused); returns how many. */
  private takeInbox(batches: QueueBatch[]): number {
    const reader = this.inboxReader;
    let batch: QueueBatch | undefined;
    let count = 0;
    this.inbox.drain((_type, _data, offset) => {
      reader.read(offset);
      if (batch === undefined || batch.full) batches.push((batch = this.emptyBatch()));
      batch.data.set(reader.vector(), batch.count * this.dim);
      batch.commitUid(reader.uid);
      count++;
    });
    return count;
  }

  private ensureStarted(): RunningJob {
    if (this.job) return this.job;
    if (!this.sink) throw new SageFlowStateError('set a sink with setSink() before run()');
    const { fn } = this.sink;
    this.feed = new FeedQueue<unknown>();
    let stream = this.env.fromFeed<unknown>(this.feed, { name: 'queue', timestamp: (r) => (r as VectorRecord).ts, arena: this.arena });
    if (this.transformFn) stream = this.transformFn(stream as DataStream<VectorRecord>);
    // Gated: results of batches sent early wait for the run() that takes them.
    stream.sinkVectors(fn, { name: this.sink.name, vectorViews: this.sink.vectorViews, gated: true });
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

/** Pushes into a SageFlowService from any thread (blocking while its inbox is full; never on the main thread). */
export class SageFlowProducer {
  private readonly inbox: SharedRing;
  private readonly size: number;

  constructor(private readonly handle: SageFlowHandle) {
    this.inbox = SharedRing.attach(handle.inbox);
    this.size = vectorRecordSize(handle.dim, handle.dtype);
  }

  push(uid: bigint | number, vec: ArrayLike<number>): void {
    // Checked, then written straight into the claimed frame (converted to the dtype on the way).
    const vector = checkVector(vec, this.handle.dim);
    const id = toUid(uid);
    const offset = this.inbox.claim(VECTOR_FRAME, this.size);
    // ts 0: the service stamps records when run() takes them (no clock read per push).
    writeVectorRecord(this.inbox.data, offset, id, 0, vector, this.handle.dtype);
    this.inbox.commit(offset);
  }
}
