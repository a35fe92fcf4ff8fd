import { PackedStrings } from '../../codec/index.js';
import type { EdgeWriter } from './edge-writer.js';
import { checkTimestamp, FrameKind, isRecordKind, kindOf, RecordDecoder } from './frames.js';
import { RingClosedError } from '../../ring/index.js';
import type { SourceSpec } from '../plan/graph.js';
import { yieldIfDue } from './main-slice.js';
import { SharedVectorBatch } from '../batches/feed-arena.js';
import { VectorBatch, type VectorRows } from '../batches/vector-batch.js';

/** Returned by a `fromSource` function to end the stream. */
export const STOP: unique symbol = Symbol.for('ringflow.stop');

/**
 * Feed sources take batches of items: records, VectorBatches (columnar vector records, sent a
 * frame per batch), SharedVectorBatches (built in the feed's arena, sent by reference),
 * PackedStrings (string records a connector packed where it read them) and FeedBarriers. A FeedBarrier is an item that is no record: a barrier of `epoch` travels behind
 * everything fed before it, and reaches the sinks once all of that has passed every operator.
 */
export class FeedBarrier {
  constructor(readonly epoch: number) {}
}

/**
 * A feed item that is no record: where the source stands once everything fed before it is done
 * (a replayable connector's batch position). A checkpoint taken after it stores `position`, and
 * calls `committed` once that checkpoint is durable (the connector's acks).
 */
export class FeedPosition {
  constructor(
    readonly position: unknown,
    readonly committed?: () => void,
  ) {}
}

/** Where a source stood at a checkpoint barrier. */
export interface SourceCheckpoint {
  /** Plain JSON for the store (undefined: the source cannot say, so it cannot be replayed). */
  position: unknown;
  /** Called once the checkpoint is committed. */
  committed?: () => void;
}

/** How a source takes part in checkpoints. */
export interface SourceCheckpointing {
  /** The position of the last committed checkpoint to resume after (an array iterable: records consumed). */
  resume?: unknown;
  /** Awaited when the source is exhausted (or stopped), before its end goes out: the final checkpoint. */
  atEnd(): Promise<void>;
}

/** True when the source can replay from a checkpointed position (a feed decides per connector). */
export function replayableSource(source: SourceSpec): boolean {
  return source.kind === 'iterable' && Array.isArray(source.iterable);
}

/**
 * A feed that can also take a batch synchronously, outside its async iteration: the source driver
 * attaches a sender that puts an arena batch straight into the pipeline when it can do so at once
 * (a free ring, nothing of the feed's own in progress), and says whether it did.
 */
export interface DirectFeed {
  attachSender(send: (batch: SharedVectorBatch) => boolean): void;
}

function isDirectFeed(value: unknown): value is DirectFeed {
  return typeof (value as Partial<DirectFeed>).attachSender === 'function';
}

/** How often (in records) a source sends its watermark downstream. */
const WATERMARK_EVERY = 256;

export interface SourceTiming {
  /** Event time of a record; default: the time it entered the pipeline (processing time). */
  timestamp?: (value: unknown) => number;
  /** How far behind the largest timestamp seen the watermark trails. */
  outOfOrdernessMs: number;
}

/**
 * Pulls a source on the main thread and writes its records into the pipeline, yielding to the
 * event loop every few milliseconds and waiting (without blocking) whenever a ring is full.
 */
export class SourceDriver {
  records = 0;
  private maxTs = -Infinity;
  private sentWatermark = -Infinity;
  /** A feed source is writing a batch list of its own (a direct send must not cut in). */
  private feeding = false;
  private stopped = false;
  /** Checkpoints: a barrier asked for, the pause after it, whether the source is idle (between batches, waiting). */
  private request: { id: number; resolve: (at: SourceCheckpoint) => void; reject: (error: unknown) => void } | undefined;
  private gate: Promise<void> | undefined;
  private release: (() => void) | undefined;
  private serving: Promise<void> | undefined;
  private idle = false;
  /** Items taken from an iterable (its replay position), or the last FeedPosition of a feed. */
  private consumed = 0;
  private position: FeedPosition | undefined;

  constructor(
    private readonly source: SourceSpec,
    private readonly timing: SourceTiming,
    private readonly writer: EdgeWriter,
    private readonly signal: AbortSignal,
    /** A record that could not go in (its timestamp extractor threw or gave NaN, its key selector failed, …): reported, the source goes on. */
    private readonly fail: (record: unknown, error: unknown) => void = (_record, error) => {
      throw error;
    },
    private readonly checkpointing?: SourceCheckpointing,
  ) {
    // A resumed feed stands where the committed checkpoint left it until its first batch says
    // otherwise: a checkpoint served before that batch must store that position again, not none
    // (none would make the next recovery replay the connector from its start onto restored tables).
    if (source.kind === 'feed' && checkpointing?.resume !== undefined) this.position = new FeedPosition(checkpointing.resume);
  }

  /**
   * Sends checkpoint barrier `id` at the next point where the source's position is known, and
   * resolves with that position; the source then sends nothing until `resume()` (so no record after
   * the barrier can reach a stage before the barrier has passed it everywhere).
   */
  requestCheckpoint(id: number): Promise<SourceCheckpoint> {
    return new Promise<SourceCheckpoint>((resolve, reject) => {
      this.request = { id, resolve, reject };
      if (this.idle) {
        this.serving = this.serve();
        this.serving.catch(() => {}); // the request's promise carries the error
      }
    });
  }

  /** Lets the source go on after a checkpoint barrier. */
  resume(): void {
    const release = this.release;
    this.gate = this.release = undefined;
    release?.();
  }

  /** At a safe point: sends the barrier asked for, and waits to be resumed. */
  private async serve(): Promise<void> {
    const request = this.request;
    if (!request) return;
    this.request = undefined;
    this.gate = new Promise<void>((resolve) => (this.release = resolve));
    const gate = this.gate;
    try {
      await this.advanceWatermark();
      await this.writer.controlAsync(FrameKind.Checkpoint, request.id);
    } catch (error) {
      request.reject(error);
      throw error;
    }
    const at = this.position;
    request.resolve(
      this.source.kind === 'feed'
        ? { position: at?.position, committed: at?.committed }
        : { position: replayableSource(this.source) ? this.consumed : undefined },
    );
    await gate;
  }

  /** Before a record or batch: serves a checkpoint asked for, and waits out a pause. */
  private async safePoint(): Promise<void> {
    this.idle = false;
    if (this.serving) await this.serving.catch(() => {});
    this.serving = undefined;
    if (this.request) await this.serve();
    else if (this.gate) await this.gate;
  }

  /** Ends the source at the next record (stop()): what it sent still drains, and its end goes out. */
  stop(): void {
    this.stopped = true;
  }

  /** The job was cancelled, or the source was told to stop. */
  private get ended(): boolean {
    return this.stopped || this.signal.aborted;
  }

  async run(): Promise<void> {
    const source = this.source;
    if (source.kind === 'iterable') {
      const resume = this.checkpointing?.resume;
      if (Array.isArray(source.iterable) && typeof resume === 'number') {
        const items = source.iterable as unknown[];
        for (this.consumed = resume; this.consumed < items.length; ) {
          if (this.request || this.gate) await this.safePoint();
          if (this.ended) break;
          const waiting = this.emit(items[this.consumed++]);
          if (waiting) await waiting;
        }
      } else {
        for (const value of source.iterable) {
          if (this.request || this.gate) await this.safePoint();
          if (this.ended) break;
          this.consumed++;
          const waiting = this.emit(value);
          if (waiting) await waiting;
        }
      }
    } else if (source.kind === 'asyncIterable') {
      this.idle = true;
      for await (const value of source.iterable) {
        await this.safePoint();
        if (this.ended) break;
        const waiting = this.emit(value);
        if (waiting) await waiting;
        this.idle = true;
      }
    } else if (source.kind === 'function') {
      while (!this.ended) {
        if (this.request || this.gate) await this.safePoint();
        this.idle = true;
        let value = source.fn();
        if (value instanceof Promise) value = await value;
        this.idle = false;
        if (value === STOP) break;
        await this.safePoint();
        const waiting = this.emit(value);
        if (waiting) await waiting;
      }
    } else if (source.kind === 'ring') {
      await this.pumpRing(source.ring);
    } else if (source.kind === 'feed') {
      if (isDirectFeed(source.batches)) source.batches.attachSender((batch) => this.sendNow(batch));
      // Waiting for a batch (the first one too: a tailing or idle broker source may wait long) is a
      // safe point: a checkpoint asked for meanwhile goes out at once.
      this.idle = true;
      for await (const batch of source.batches) {
        await this.safePoint();
        this.feeding = true;
        for (const item of batch) {
          if (this.signal.aborted) return;
          // With checkpoints a batch is never cut: its position (at its end) must cover all of it.
          if (this.stopped && !this.checkpointing) break;
          if (item instanceof FeedPosition) this.position = item;
          else if (item instanceof FeedBarrier) {
            // Batches sent directly may have moved the event time on since the last watermark.
            await this.advanceWatermark();
            await this.writer.controlAsync(FrameKind.Barrier, item.epoch);
          } else if (item instanceof VectorBatch || item instanceof SharedVectorBatch) await this.emitBatch(item);
          else if (item instanceof PackedStrings) await this.emitPacked(item);
          else {
            const waiting = this.emit(item);
            if (waiting) await waiting;
          }
        }
        this.feeding = false;
        if (this.stopped) break;
        this.idle = true;
      }
    }
    if (this.checkpointing) {
      // The final checkpoint: barriers asked for from now on go out at once (nothing more comes).
      await this.safePoint();
      this.idle = true;
      await this.checkpointing.atEnd();
      await this.safePoint();
    }
    await this.writer.endAsync();
  }

  /**
   * Writes one record. Returns a promise only when it has to wait (a full ring, or the periodic
   * watermark and event-loop yield), so a fast source pays no promise per record.
   */
  emit(value: unknown, ts?: number, origin = 0): Promise<void> | undefined {
    let waiting: Promise<void> | undefined;
    try {
      const time = ts ?? (this.timing.timestamp ? this.timing.timestamp(value) : Date.now());
      checkTimestamp(time);
      waiting = this.writer.writeAsync(value, time, origin);
      if (time > this.maxTs) this.maxTs = time;
    } catch (error) {
      // A ring closed under the source means the job is being torn down: that is no record's fault.
      if (error instanceof RingClosedError || this.signal.aborted) throw error;
      this.fail(value, error);
      return undefined;
    }
    if (!this.flushScheduled) this.scheduleFlush();
    if (++this.records % WATERMARK_EVERY !== 0) return waiting;
    return this.checkpoint(waiting);
  }

  private flushScheduled = false;

  /**
   * Records wait in the writer's batches until one fills or a control mark goes out; a source that
   * pauses (an async iterable waiting for input) must not hold them back: once the event loop gets
   * a turn, what is queued goes out.
   */
  private scheduleFlush(): void {
    if (!this.writer.hasPendingValues()) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.signal.aborted) return;
      // A ring that is full now is drained by its reader: try again shortly.
      const sending = this.writer.flushValuesAsync();
      // (A failed send means the job is being torn down: the run reports why.)
      if (sending) sending.then(() => this.scheduleFlush(), () => {});
      else if (this.writer.hasPendingValues()) this.retryFlush();
    });
  }

  private retryFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setTimeout(() => {
      this.flushScheduled = false;
      this.scheduleFlush();
    }, 1);
  }

  /** Every WATERMARK_EVERY records: the watermark goes out, and the event loop gets a turn if due. */
  private async checkpoint(waiting: Promise<void> | undefined): Promise<void> {
    if (waiting) await waiting;
    await this.advanceWatermark();
    const turn = yieldIfDue();
    if (turn) await turn;
  }

  /**
   * Sends the watermark when it has moved since the last one sent: a repeated watermark tells the
   * stages nothing, and costs each of them a flush of their output batches and a frame to the sink.
   */
  private async advanceWatermark(): Promise<void> {
    // Whole ms, as record timestamps travel (see checkTimestamp).
    const watermark = Math.floor(this.maxTs - this.timing.outOfOrdernessMs);
    if (!(watermark > this.sentWatermark)) return;
    this.sentWatermark = watermark;
    await this.writer.controlAsync(FrameKind.Watermark, watermark);
  }

  /**
   * A DirectFeed's sender: puts the batch into the pipeline now, by reference, if that needs no
   * waiting and the feed is not in the middle of its own batches (so order is kept); else false.
   */
  private sendNow(batch: SharedVectorBatch): boolean {
    if (this.feeding || this.signal.aborted || batch.count === 0) return false;
    if (!this.writer.trySendBatchRef(batch)) return false;
    this.sent(batch);
    return true;
  }

  /** Counts a batch that went into the pipeline, and the event time it reached. */
  private sent(batch: VectorRows): void {
    this.counted(batch.count, batch.maxTs);
  }

  private counted(records: number, maxTs: number): void {
    this.records += records;
    if (maxTs > this.maxTs) this.maxTs = maxTs;
  }

  /** After a batch went in: counted, the watermark out, and the event loop's turn if due. */
  private async afterBatch(records: number, maxTs: number): Promise<void> {
    this.counted(records, maxTs);
    await this.advanceWatermark();
    const turn = yieldIfDue();
    if (turn) await turn;
  }

  /** Writes a batch of vector records (their ts are already set), as one frame where the routing allows. */
  async emitBatch(batch: VectorRows): Promise<void> {
    if (this.signal.aborted || batch.count === 0) return;
    await this.writer.writeBatchAsync(batch);
    await this.afterBatch(batch.count, batch.maxTs);
  }

  /**
   * Strings a connector packed where it read them: one frame as they are, stamped with the time
   * they entered, where no record needs a look (no timestamp extractor, no key); else one by one.
   */
  private async emitPacked(values: PackedStrings): Promise<void> {
    if (this.signal.aborted) return;
    if (this.timing.timestamp !== undefined || !this.writer.canSendPacked(values)) {
      const strings = values.strings();
      values.release();
      for (const value of strings) {
        const waiting = this.emit(value);
        if (waiting) await waiting;
      }
      return;
    }
    const ts = Date.now();
    try {
      await this.writer.writePackedAsync(values, ts);
    } finally {
      // In the rings now (or never: the job is being torn down).
      values.release();
    }
    await this.afterBatch(values.count, ts);
  }

  private async pumpRing(ring: import('../../ring/index.js').SharedRing): Promise<void> {
    const decoder = new RecordDecoder(ring.data);
    const batch: { value: unknown; ts: number }[] = [];
    const push = (value: unknown, ts: number) => void batch.push({ value, ts });
    const take = (type: number, _data: Uint8Array, offset: number) => {
      const kind = kindOf(type);
      if (isRecordKind(kind)) decoder.decode(kind, offset, push);
    };
    while (await ring.readable()) {
      if (this.request || this.gate) await this.safePoint();
      ring.drain(take, 1024);
      for (const { value, ts } of batch) {
        if (this.signal.aborted) return;
        if (this.stopped) break;
        const waiting = this.emit(value, ts);
        if (waiting) await waiting;
      }
      batch.length = 0;
      if (this.stopped) return;
    }
  }
}
