import { SharedRing } from '../../ring/index.js';
import { sliceUsedUp, yieldIfDue } from './main-slice.js';
import { recordBatchSize, ValueBatchBuilder, ValueBatchReader, writeRecordBatch } from '../../codec/index.js';
import { FrameKind, frameType, isRecordKind, kindOf, portOf, readControl, RecordDecoder, type ArenaHandle } from './frames.js';
import type { SinkSpec } from '../plan/graph.js';

/** A record a sink's callback threw on (or whose promise rejected): the job reports it as a failure naming the sink. */
export type SinkFailure = (record: unknown, error: unknown) => void;

/** Records a sink hands over in one drain pass at most. */
const PASS_RECORDS = 2048;

/**
 * Reads a sink's ring on the main thread (waiting with Atomics.waitAsync) and hands every record
 * to the user's callback, awaiting it when it returns a promise. Ends once every producer has
 * sent End. Barrier marks resolve `barrier(epoch)` promises once seen from every producer.
 */
export class SinkDriver {
  readonly ring: SharedRing;
  records = 0;
  private ended = 0;
  private readonly barrierCounts = new Map<number, number>();
  private readonly barrierWaiters = new Map<number, () => void>();
  private readonly checkpointCounts = new Map<number, number>();
  private readonly checkpointWaiters = new Map<number, () => void>();
  /** The last checkpoint barrier delivered (everything before it was handed to the sink). */
  private passedCheckpoint = 0;
  private readonly decoder: RecordDecoder;
  /** Records go to the callback while their frame is still held (zero-copy vector views). */
  private readonly direct: boolean;
  private stopped = false;
  /**
   * A gated sink (SinkSpec.gated) drains only while the barrier of `gateEpoch` has not yet come
   * through; `barrier(epoch)` moves the gate on, `release` opens it for good.
   */
  private readonly gated: boolean;
  private gateEpoch = 0;
  private passedEpoch = 0;
  private gateOpened: (() => void) | undefined;
  /** Released without delivering: what comes is dropped (the caller never asked for it). */
  private discard = false;

  constructor(
    readonly name: string,
    private readonly sink: SinkSpec,
    capacity: number,
    private readonly producers: number,
    arenas: readonly ArenaHandle[] = [],
    private readonly fail: SinkFailure = (_record, error) => {
      throw error;
    },
  ) {
    this.ring = SharedRing.create({ capacity });
    // Vector sinks are called while the frame is held (their arguments need no record object);
    // so are callbacks that take vector views. Others get owned values after the frame is released.
    this.direct = sink.kind === 'vectors' || (sink.kind === 'callback' && sink.vectorViews === true);
    this.decoder = new RecordDecoder(this.ring.data, sink.kind === 'ring' || sink.vectorViews !== true, arenas);
    this.gated = sink.kind !== 'ring' && sink.gated === true;
  }

  /** Resolves when the barrier of `epoch` has arrived from every producer; a gated sink delivers up to it. */
  barrier(epoch: number): Promise<void> {
    const reached = new Promise<void>((resolve) => this.barrierWaiters.set(epoch, resolve));
    if (epoch > this.gateEpoch) this.openGate(epoch);
    return reached;
  }

  /** Resolves once checkpoint barrier `id` has come from every producer and all before it was handed to the sink. */
  checkpoint(id: number): Promise<void> {
    if (id <= this.passedCheckpoint) return Promise.resolve();
    return new Promise<void>((resolve) => this.checkpointWaiters.set(id, resolve));
  }

  /** Opens a gated sink for good; with `deliver` false, what it holds and all that follows is dropped. */
  release(deliver: boolean): void {
    if (!this.gated) return;
    this.discard = !deliver;
    this.openGate(Infinity);
  }

  /** Makes `run` return at its next turn (the job is being torn down). */
  stop(): void {
    this.stopped = true;
    this.ring.close();
    this.gateOpened?.();
  }

  private openGate(epoch: number): void {
    this.gateEpoch = epoch;
    this.gateOpened?.();
  }

  private get gateClosed(): boolean {
    return this.gated && this.passedEpoch >= this.gateEpoch;
  }

  async run(): Promise<void> {
    const pending: unknown[] = [];
    const push = (value: unknown) => void pending.push(value);
    const sink = this.sink;
    const deliverNow = (value: unknown) => {
      this.records++;
      try {
        const result = sink.kind === 'vectors' ? callVectorSink(sink.fn, value) : sink.kind === 'callback' ? sink.fn(value) : undefined;
        if (result instanceof Promise) pending.push(AWAIT, result, value);
      } catch (error) {
        this.fail(value, error);
      }
    };
    const deliverVector =
      sink.kind === 'vectors'
        ? (uid: bigint, ts: number, vector: Float32Array | Float64Array) => {
            this.records++;
            try {
              const result = sink.fn(uid, ts, vector, undefined);
              if (result instanceof Promise) pending.push(AWAIT, result, { uid, ts, vector: vector.slice() });
            } catch (error) {
              // The vector may be a view over the ring: the failure keeps a copy.
              this.fail({ uid, ts, vector: vector.slice() }, error);
            }
          }
        : undefined;
    let passRecords = 0;
    const text = sink.kind === 'callback' ? sink.text : undefined;
    const collect = (type: number, data: Uint8Array, offset: number, length: number): boolean => {
      const kind = kindOf(type);
      if (isRecordKind(kind)) {
        if (this.discard) return true;
        if (this.sink.kind === 'ring') pending.push(...this.frameCopy(kind, type, data, offset, length));
        else if (text) passRecords += this.collectText(kind, offset, pending);
        else passRecords += this.decoder.decode(kind, offset, this.direct ? deliverNow : push, deliverVector);
        // A pass ends after a few thousand records (a batch frame holds hundreds) or once the
        // main thread's slice is used up, whichever comes first: a frame's cost is not known ahead
        // (owned copies fault fresh pages in, a sink may be slow), and the event loop must get its
        // turn every few milliseconds whatever the frames hold.
        return passRecords < PASS_RECORDS && !sliceUsedUp();
      } else if (kind === FrameKind.End) {
        this.ended++;
      } else if (kind === FrameKind.Checkpoint) {
        const id = readControl(data, offset).epoch;
        const seen = (this.checkpointCounts.get(id) ?? 0) + 1;
        if (seen < this.producers) this.checkpointCounts.set(id, seen);
        else {
          this.checkpointCounts.delete(id);
          pending.push(CHECKPOINT, id);
        }
      } else if (kind === FrameKind.Barrier) {
        const epoch = readControl(data, offset).epoch;
        if (this.barrierComplete(epoch)) {
          pending.push(BARRIER, epoch);
          this.passedEpoch = Math.max(this.passedEpoch, epoch);
          // A gated sink stops at the barrier it was opened up to: what follows waits for the next.
          return !this.gateClosed;
        }
      }
      return true;
    };
    while (this.ended < this.producers && !this.stopped) {
      if (this.gateClosed) {
        await new Promise<void>((resolve) => (this.gateOpened = resolve));
        this.gateOpened = undefined;
        // The gate opens as the run starts feeding, on this thread: let that feeding happen first
        // (one event-loop turn), rather than spin on an empty ring while it cannot.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      passRecords = 0;
      if (this.ring.drain(collect, 1024) === 0) {
        const turn = yieldIfDue();
        if (turn) await turn;
        if (!(await this.ring.readable())) break;
        continue;
      }
      await this.deliver(pending);
      pending.length = 0;
      const turn = yieldIfDue();
      if (turn) await turn;
    }
    if (this.sink.kind === 'ring') this.sink.ring.close();
  }

  private async deliver(items: unknown[]): Promise<void> {
    const sink = this.sink;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item === BARRIER) {
        const epoch = items[++i] as number;
        this.barrierWaiters.get(epoch)?.();
        this.barrierWaiters.delete(epoch);
      } else if (item === CHECKPOINT) {
        const id = items[++i] as number;
        this.passedCheckpoint = Math.max(this.passedCheckpoint, id);
        this.checkpointWaiters.get(id)?.();
        this.checkpointWaiters.delete(id);
      } else if (item === AWAIT) {
        const result = items[++i];
        const record = items[++i];
        try {
          await result;
        } catch (error) {
          this.fail(record, error);
        }
      } else if (item === TEXT) {
        const utf8 = items[++i] as Uint8Array;
        const records = items[++i] as number;
        this.records += records;
        try {
          const result = (sink as { text: (utf8: Uint8Array, records: number) => unknown }).text(utf8, records);
          if (result instanceof Promise) await result;
        } catch (error) {
          this.fail({ records, bytes: utf8.length }, error);
        }
      } else if (sink.kind === 'ring') {
        await sink.ring.writeAsync(item as Uint8Array, items[++i] as number);
        this.records++;
      } else if (sink.kind === 'callback') {
        this.records++;
        try {
          const result = sink.fn(item);
          if (result instanceof Promise) await result;
        } catch (error) {
          this.fail(item, error);
        }
      }
    }
  }

  /**
   * A text sink's records (texts its encoder made upstream) as one piece of UTF-8: a batch of
   * ASCII strings is its text already; others are decoded and joined. Returns the record count.
   */
  private collectText(kind: number, offset: number, pending: unknown[]): number {
    const text = this.decoder.text(kind, offset);
    if (text) {
      pending.push(TEXT, text.utf8, text.records);
      return text.records;
    }
    const texts: string[] = [];
    const records = this.decoder.decode(kind, offset, (value) => void texts.push(String(value)));
    pending.push(TEXT, utf8Encoder.encode(texts.join('')), records);
    return records;
  }

  /** A record frame as bytes to pass on; a batch reference becomes the batch itself (the arena is ours alone). */
  private frameCopy(kind: number, type: number, data: Uint8Array, offset: number, length: number): (Uint8Array | number)[] {
    if (kind === FrameKind.ValueBatch && this.sink.kind === 'ring' && length > this.sink.ring.maxPayloadLength) {
      return splitValueBatch(new ValueBatchReader(data).read(offset), this.sink.ring.maxPayloadLength, type);
    }
    if (kind !== FrameKind.BatchRef) return [data.slice(offset, offset + length), type];
    const batch = this.decoder.copyReferenced(offset);
    const bytes = new Uint8Array(recordBatchSize(batch.uids.length, batch.dim, batch.dtype));
    writeRecordBatch(bytes, 0, batch);
    return [bytes, frameType(FrameKind.VectorBatch, portOf(type))];
  }

  /** Counts a barrier mark in; true when it has now come from every producer. */
  private barrierComplete(epoch: number): boolean {
    const seen = (this.barrierCounts.get(epoch) ?? 0) + 1;
    if (seen < this.producers) {
      this.barrierCounts.set(epoch, seen);
      return false;
    }
    this.barrierCounts.delete(epoch);
    return true;
  }
}

/** A ValueBatch as frames of at most `max` bytes, for a ring smaller than the pipeline's (frame bytes, type, ...). */
function splitValueBatch(batch: ValueBatchReader, max: number, type: number): (Uint8Array | number)[] {
  const builder = new ValueBatchBuilder(false);
  const values = batch.values();
  values.forEach((value, i) => builder.add(value, batch.ts(i), batch.keyHash(i), batch.origin(i)));
  const frames: (Uint8Array | number)[] = [];
  while (builder.count > 0) {
    let end = builder.count;
    let size = builder.encode(0, end);
    while (size > max && end > 1) size = builder.encode(0, (end = Math.ceil(end / 2)));
    const bytes = new Uint8Array(size);
    builder.writeInto(bytes, 0);
    frames.push(bytes, type);
    builder.consume(end);
  }
  return frames;
}

/** A vector sink given a whole value: a vector record, or something that carries one as `record` (topK's results). */
function callVectorSink(fn: Extract<SinkSpec, { kind: 'vectors' }>['fn'], value: unknown): unknown {
  const r = ((value as { record?: unknown }).record ?? value) as { uid?: bigint; ts?: number; vector?: Float32Array | Float64Array };
  return fn(r.uid as bigint, r.ts as number, r.vector as Float32Array | Float64Array, value);
}

const BARRIER = Symbol('barrier');
const CHECKPOINT = Symbol('checkpoint');
const AWAIT = Symbol('await');
const TEXT = Symbol('text');
const utf8Encoder = new TextEncoder();
