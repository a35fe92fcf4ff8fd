import { packedValueBatchSize, storeInt64Words, UnserializableValueError, ValueBatchBuilder, writePackedValueBatch, writeRecordBatch, type PackedStrings, type VectorDType } from '../../codec/index.js';
import { FrameTooLargeError, SharedRing } from '../../ring/index.js';
import { loadFn } from './chain.js';
import { SharedVectorBatch } from '../batches/feed-arena.js';
import { BATCH_REF_SIZE, writeBatchRef, type InputBatch } from '../batches/batch-ref.js';
import { checkTimestamp, CONTROL_FRAME_SIZE, FrameKind, frameType, isVectorRecord, PreparedRecord, writeControlAsync, writeControlAt, type VectorRecord } from './frames.js';
import type { Partition } from '../plan/graph.js';
import { Router } from './routing.js';
import { batchRows, VectorBatch, type VectorRows } from '../batches/vector-batch.js';

/** One outgoing edge of a producer (a stage instance or a main-thread source), as data. */
export interface EdgeTask {
  rings: SharedArrayBuffer[];
  partition: Partition;
  port: number;
  /** The producer's number at the receiving vertex. */
  producer: number;
  /** Key groups of 'hash' routing (see Router). */
  maxParallelism: number;
}

/** An edge's ring as this producer writes it: with the vector batch it is filling for it. */
interface Target {
  readonly ring: SharedRing;
  readonly port: number;
  pending: VectorBatch | undefined;
  /** The records of any other shape waiting to go as one ValueBatch frame. */
  readonly values: ValueBatchBuilder;
  /** Frames published without waking the reader since it was last woken. */
  unannounced: number;
}

/**
 * A worker publishes its output frames quietly and wakes the reader once per this many (and when
 * it flushes, blocks or writes a control mark): a main-thread sink woken for every batch spends
 * more on wake-ups than on the records, and so do the workers that wake it.
 */
const WAKE_EVERY_FRAMES = 16;

/** Records per ValueBatch frame at most (a stage also sends what it has after every pass over its input). */
export const VALUE_BATCH_ROWS = 512;

/**
 * Where a record that cannot travel goes (the codec refused it, or it is larger than a ring frame):
 * the runtime reports it to onError with the name of the operator or source that emitted it.
 */
export type RefusedRecord = (value: unknown, error: Error & { code: string }) => void;

const throwRefused: RefusedRecord = (_value, error) => {
  throw error;
};
interface OpenEdge {
  readonly targets: Target[];
  readonly router: Router;
  readonly port: number;
  readonly producer: number;
  /** Whole batches may go to one target (no per-record routing needed). */
  readonly batchable: boolean;
  readonly roundRobin: boolean;
}

/**
 * Writes a producer's records and control marks to its outgoing edges: each record is routed per
 * edge and copied into the chosen ring(s). Workers use the blocking forms, and batch vector
 * records per target ring until `flush` (the stage flushes after every pass over its input, so a
 * batch is as large as the load makes it); anything else written to a ring flushes its batch
 * first, so order per ring is kept. The main thread uses the async forms, which return a promise
 * only when a ring was full.
 */
export class EdgeWriter {
  private readonly prepared = new PreparedRecord();
  /** The one ring every record goes to, when there is exactly one: rows of a referenced input batch can then go on in place. */
  private readonly soleTarget: Target | undefined;
  private input: InputBatch | undefined;
  /**
   * The origin (request or message slot, 0 = none) of the input record being processed: the
   * records written meanwhile derive from it and carry it on. The stage sets it per record.
   */
  origin = 0;

  private constructor(
    private readonly edges: OpenEdge[],
    private readonly refused: RefusedRecord,
  ) {
    const only = edges.length === 1 ? edges[0]! : undefined;
    this.soleTarget = only !== undefined && only.batchable && only.targets.length === 1 ? only.targets[0] : undefined;
  }

  /**
   * Lets records that are rows of the referenced batch being decoded (`input`, see RecordDecoder)
   * go on in place: the batch is sent on by reference with the rows that reached this writer,
   * instead of each row being copied into a batch of its own. Only for a writer with one target
   * (the batch then still belongs to one reader at a time).
   */
  follow(input: InputBatch): void {
    if (this.soleTarget !== undefined) this.input = input;
  }

  static async open(tasks: EdgeTask[], instance: number, refused: RefusedRecord = throwRefused): Promise<EdgeWriter> {
    const edges = await Promise.all(
      tasks.map(async (t): Promise<OpenEdge> => {
        const key = t.partition.kind === 'hash' ? ((await loadFn(t.partition.key)) as (value: unknown) => unknown) : undefined;
        return {
          targets: t.rings.map((buffer) => ({
            ring: SharedRing.attach(buffer),
            port: t.port,
            pending: undefined,
            values: new ValueBatchBuilder(t.partition.kind === 'hash'),
            unannounced: 0,
          })),
          router: new Router(t.partition.kind, t.rings.length, instance, key, t.partition.kind === 'hash' ? t.partition.key.operator : undefined, t.maxParallelism),
          port: t.port,
          producer: t.producer,
          batchable: t.partition.kind !== 'hash',
          roundRobin: t.partition.kind === 'roundRobin',
        };
      }),
    );
    return new EdgeWriter(edges, refused);
  }

  /** Blocking write (worker threads); vector records are batched until `flush`. */
  write(value: unknown, ts: number): void {
    const input = this.input;
    if (input !== undefined) {
      if (this.keepInPlace(input, value)) return;
      if (input.selection.count > 0) this.sendSelection();
    }
    if (isVectorRecord(value)) {
      checkTimestamp(value.ts);
      for (const edge of this.edges) {
        const t = edge.router.route(value);
        if (t >= 0) this.append(edge.targets[t]!, value);
        else for (const target of edge.targets) this.append(target, value);
      }
      return;
    }
    for (const edge of this.edges) {
      const t = edge.router.route(value);
      const hash = edge.router.lastHash;
      if (t >= 0) this.addValue(edge.targets[t]!, value, ts, hash);
      else for (const target of edge.targets) this.addValue(target, value, ts, hash);
    }
  }

  /** Queues a record for the target's next ValueBatch frame, sending the batch when it is full (blocking). */
  private addValue(target: Target, value: unknown, ts: number, hash: number): void {
    if (target.pending?.count) this.flushVectors(target);
    const values = target.values;
    values.add(value, ts, hash, this.origin);
    if (values.count >= VALUE_BATCH_ROWS) this.sendValues(target);
  }

  /**
   * Encodes the target's pending records and writes them as ValueBatch frames (blocking): one
   * frame, or several when they would not fit in one. A record the codec refuses, or one larger
   * than a frame, goes to `refused`; the others are sent.
   */
  private sendValues(target: Target): void {
    const values = target.values;
    let end = this.encodeValues(target);
    while (end > 0) {
      const offset = this.claim(target, frameType(FrameKind.ValueBatch, target.port), this.frameSize);
      values.writeInto(target.ring.data, offset);
      if (!this.publish(target, offset)) continue;
      values.consume(end);
      end = this.encodeValues(target);
    }
  }

  /** Size of the frame `encodeValues` last encoded. */
  private frameSize = 0;

  /**
   * Encodes the longest prefix of the target's pending records that fits in one frame (dropping
   * those that cannot travel) and returns its length: 0 when none is left.
   */
  private encodeValues(target: Target): number {
    const values = target.values;
    const max = target.ring.maxPayloadLength;
    while (values.count > 0) {
      let end = values.count;
      let size: number;
      try {
        size = values.encode(0, end);
      } catch (error) {
        if (!(error instanceof UnserializableValueError)) throw error;
        values.dropRefused(this.refused);
        continue;
      }
      while (size > max && end > 1) size = values.encode(0, (end = Math.ceil(end / 2)));
      if (size <= max) {
        this.frameSize = size;
        return end;
      }
      this.refused(values.values[0], new FrameTooLargeError(size, max));
      values.drop(0);
    }
    return 0;
  }

  /** Sends every pending vector batch (blocking), and wakes the readers of what went out. */
  flush(): void {
    this.sendKept();
    for (const edge of this.edges) {
      for (const target of edge.targets) {
        this.flushTarget(target);
        this.announce(target);
      }
    }
  }

  /** Sends the rows of the input batch kept in place so far (call when the batch's rows are done). */
  sendKept(): void {
    if (this.input !== undefined && this.input.selection.count > 0) this.sendSelection();
  }

  /**
   * Takes `value` as a row of the input batch, kept in place, when it is one: a vector record whose
   * vector is the view the decoder handed out for a row after the last one kept. A changed uid or
   * ts is written back into the batch, and so is the vector when the operators had a private copy.
   */
  private keepInPlace(input: InputBatch, value: unknown): boolean {
    if (!input.active || !isVectorRecord(value)) return false;
    checkTimestamp(value.ts);
    const vector = value.vector;
    if (vector.length !== input.dim || vector instanceof Float64Array !== input.float64) return false;
    const row = input.rowOf(vector);
    if (row <= input.lastRow || row >= input.rows) return false;
    input.lastRow = row;
    if (input.copied) input.data!.set(vector, row * input.dim);
    input.uids![row] = value.uid;
    storeInt64Words(input.tsWords!, row * 2, Math.floor(value.ts));
    input.selection.add(row);
    return true;
  }

  /** Sends the input batch's kept rows on by reference (after what the target had pending, to keep order). */
  private sendSelection(): void {
    const input = this.input!;
    const target = this.soleTarget!;
    this.flushTarget(target);
    let offset: number;
    do {
      offset = this.claim(target, frameType(FrameKind.BatchRef, target.port), BATCH_REF_SIZE);
      writeBatchRef(target.ring.data, offset, input.arena, input.at, input.selection);
    } while (!this.publish(target, offset));
    input.selection.clear();
  }

  /** Claims a frame, waking every reader of frames published quietly before it may block (a full ring). */
  private claim(target: Target, type: number, size: number): number {
    const offset = target.ring.tryClaim(type, size);
    if (offset >= 0) return offset;
    for (const edge of this.edges) for (const t of edge.targets) this.announce(t);
    return target.ring.claim(type, size);
  }

  /**
   * Commits quietly; the reader is woken every WAKE_EVERY_FRAMES frames and by `announce`. False
   * when the reader revoked the claim (this thread stalled past the ring's unblockAfterMs) and
   * skipped it unread: every caller then writes the frame again, so a stall loses no record.
   */
  private publish(target: Target, offset: number): boolean {
    if (!target.ring.tryCommit(offset, false)) return false;
    if (++target.unannounced >= WAKE_EVERY_FRAMES) this.announce(target);
    return true;
  }

  private announce(target: Target): void {
    if (target.unannounced === 0) return;
    target.unannounced = 0;
    target.ring.wakeReader();
  }

  /**
   * Never blocks; the returned promise (only when a ring was full) must settle before the next
   * write. Records other than vectors are queued per target and go as ValueBatch frames when a
   * batch is full, on `flushValuesAsync` and before anything else is written.
   */
  writeAsync(value: unknown, ts: number, origin = 0): Promise<void> | undefined {
    if (isVectorRecord(value)) {
      const flushing = this.flushValuesAsync();
      return flushing ? flushing.then(() => this.writeVectorAsync(value, ts)) : this.writeVectorAsync(value, ts);
    }
    let full = false;
    for (let e = 0; e < this.edges.length; e++) {
      const edge = this.edges[e]!;
      const t = edge.router.route(value);
      const hash = edge.router.lastHash;
      if (t >= 0) full = this.queueValue(edge.targets[t]!, value, ts, hash, origin) || full;
      else for (const target of edge.targets) full = this.queueValue(target, value, ts, hash, origin) || full;
    }
    return full ? this.flushValuesAsync(VALUE_BATCH_ROWS) : undefined;
  }

  private queueValue(target: Target, value: unknown, ts: number, hash: number, origin: number): boolean {
    target.values.add(value, ts, hash, origin);
    return target.values.count >= VALUE_BATCH_ROWS;
  }

  /** True while some target holds records not yet sent. */
  hasPendingValues(): boolean {
    for (const edge of this.edges) for (const target of edge.targets) if (target.values.count > 0) return true;
    return false;
  }

  /**
   * Sends the queued records of every target holding at least `min` of them, without blocking;
   * returns a promise only when a ring was full (it settles once all of them are sent).
   */
  flushValuesAsync(min = 1): Promise<void> | undefined {
    // One send waits for room at a time; whatever comes next (records, marks) goes after it.
    if (this.inflight) return this.inflight.then(() => this.flushValuesAsync(min));
    for (const edge of this.edges) {
      for (const target of edge.targets) {
        if (target.values.count >= min && !this.trySendValues(target)) {
          const sending = this.finishValuesAsync(min).finally(() => {
            if (this.inflight === sending) this.inflight = undefined;
          });
          return (this.inflight = sending);
        }
      }
    }
    return undefined;
  }

  /** The main thread's send that is waiting for room in a ring, if any. */
  private inflight: Promise<void> | undefined;

  /** Sends a target's queued records while the ring has room; false when it ran out of room. */
  private trySendValues(target: Target): boolean {
    const type = frameType(FrameKind.ValueBatch, target.port);
    let end = this.encodeValues(target);
    while (end > 0) {
      const offset = target.ring.tryClaim(type, this.frameSize);
      if (offset < 0) return false;
      target.values.writeInto(target.ring.data, offset);
      if (!target.ring.tryCommit(offset)) continue; // revoked (see publish): written again
      target.values.consume(end);
      end = this.encodeValues(target);
    }
    return true;
  }

  private async finishValuesAsync(min: number): Promise<void> {
    const type = (target: Target) => frameType(FrameKind.ValueBatch, target.port);
    for (const edge of this.edges) {
      for (const target of edge.targets) {
        if (target.values.count < min) continue;
        {
          let end = this.encodeValues(target);
          while (end > 0) {
            const size = this.frameSize;
            let offset = target.ring.tryClaim(type(target), size);
            if (offset < 0) {
              // Other writers on this thread encode while this one waits: keep a copy of the bytes.
              target.values.detach();
              offset = await target.ring.claimAsync(type(target), size);
            }
            target.values.writeInto(target.ring.data, offset);
            if (!target.ring.tryCommit(offset)) continue; // revoked (see publish): written again
            target.values.consume(end);
            end = this.encodeValues(target);
          }
        }
      }
    }
  }

  /**
   * Whether strings packed where they were read can go as they are: every edge sends whole batches
   * (no key to compute per record) and the frame fits each ring.
   */
  canSendPacked(values: PackedStrings): boolean {
    const size = packedValueBatchSize(values);
    return this.edges.every((edge) => edge.batchable && edge.targets.every((t) => size <= t.ring.maxPayloadLength));
  }

  /** Writes packed strings as one ValueBatch frame per chosen ring, all at `ts`, after what is queued (see canSendPacked). */
  async writePackedAsync(values: PackedStrings, ts: number): Promise<void> {
    const flushing = this.flushValuesAsync();
    if (flushing) await flushing;
    for (const edge of this.edges) {
      if (edge.roundRobin && edge.targets.length > 1) {
        // Record i goes where it would alone (a key then stays with one instance when the records
        // of a key are spaced evenly, and each instance's share keeps its order).
        const n = edge.targets.length;
        const first = edge.router.routeRun(values.count);
        for (let k = 0; k < n; k++) {
          if (values.shareCount(k, n) > 0) await this.putPacked(edge.targets[(first + k) % n]!, values, ts, k, n);
        }
        continue;
      }
      const t = edge.router.route(undefined);
      for (const target of t >= 0 ? [edge.targets[t]!] : edge.targets) await this.putPacked(target, values, ts);
    }
  }

  /** One frame of the strings, or of their round-robin share from `first` every `step`. */
  private async putPacked(target: Target, values: PackedStrings, ts: number, first = 0, step = 1): Promise<void> {
    const size = packedValueBatchSize(values, values.shareCount(first, step));
    const type = frameType(FrameKind.ValueBatch, target.port);
    let offset: number;
    do {
      offset = target.ring.tryClaim(type, size);
      if (offset < 0) offset = await target.ring.claimAsync(type, size);
      writePackedValueBatch(target.ring.data, offset, values, ts, first, step);
    } while (!target.ring.tryCommit(offset));
  }

  /** A vector record as one Vector frame (the main thread's per-record path for vectors). */
  private writeVectorAsync(value: unknown, ts: number): Promise<void> | undefined {
    const record = this.prepared.prepare(value, ts);
    for (let e = 0; e < this.edges.length; e++) {
      const edge = this.edges[e]!;
      const type = frameType(record.kind, edge.port);
      const t = edge.router.route(value);
      const targets = t >= 0 ? [edge.targets[t]!] : edge.targets;
      for (let i = 0; i < targets.length; i++) {
        if (!this.tryPut(targets[i]!, type)) return this.finishAsync(e, targets, i, type, value);
      }
    }
    return undefined;
  }

  /**
   * Writes a whole batch of vector records without blocking: as one frame where the partition
   * allows (round-robin, forward, broadcast), else row by row through their routes. A batch built
   * in a feed arena that goes to one ring travels by reference (sealed, then read in place);
   * broadcast copies it, so that no two instances share a batch they may modify.
   */
  async writeBatchAsync(batch: VectorRows): Promise<void> {
    const flushing = this.flushValuesAsync();
    if (flushing) await flushing;
    for (const edge of this.edges) {
      if (edge.batchable) {
        const t = edge.router.route(undefined);
        if (t >= 0 && batch instanceof SharedVectorBatch) await this.putBatchRefAsync(edge.targets[t]!, batch);
        else for (const target of t >= 0 ? [edge.targets[t]!] : edge.targets) await this.putBatchAsync(target, batch);
        continue;
      }
      for (let row = 0; row < batch.count; row++) {
        const record: VectorRecord = { uid: batch.uids[row]!, ts: batch.tsAt(row), vector: batch.data.subarray(row * batch.dim, (row + 1) * batch.dim) };
        const target = edge.targets[edge.router.route(record)]!;
        const pending = this.pendingFor(target, batch.dim, batch.dtype);
        if (pending.full) await this.putBatchAsync(target, pending);
        pending.add(record.uid, record.ts, record.vector);
      }
      for (const target of edge.targets) if (target.pending?.count) await this.putBatchAsync(target, target.pending);
    }
  }

  /** Sends a control mark to every ring of every edge (after the batches before it). */
  /**
   * Writes a control mark behind everything sent before it (blocking). Watermarks and barriers go
   * out quietly, like records: a stage announces what it published after each pass over its input
   * (StageOutput.flush), and a worker that woke its readers for every watermark (a source sends
   * one every few hundred records) spent more on the wake-ups than on the records. End, its last
   * frame, wakes them at once.
   */
  control(kind: number, value: number): void {
    this.sendKept();
    for (const edge of this.edges) {
      for (const target of edge.targets) {
        this.flushTarget(target);
        let offset: number;
        do {
          offset = this.claim(target, frameType(kind, edge.port), CONTROL_FRAME_SIZE);
          writeControlAt(target.ring.data, offset, kind, edge.producer, value);
        } while (!this.publish(target, offset));
      }
    }
    if (kind === FrameKind.End) for (const edge of this.edges) for (const target of edge.targets) this.announce(target);
  }

  async controlAsync(kind: number, value: number): Promise<void> {
    const flushing = this.flushValuesAsync();
    if (flushing) await flushing;
    for (const edge of this.edges) for (const t of edge.targets) await writeControlAsync(t.ring, kind, edge.producer, value, edge.port);
  }

  end(): void {
    this.control(FrameKind.End, 0);
  }

  endAsync(): Promise<void> {
    return this.controlAsync(FrameKind.End, 0);
  }

  // ---------------------------------------------------------------- blocking internals

  private append(target: Target, record: VectorRecord): void {
    const dtype: VectorDType = record.vector instanceof Float64Array ? 'Float64' : 'Float32';
    const pending = this.pendingFor(target, record.vector.length, dtype);
    if (pending.full) this.flushVectors(target);
    pending.add(record.uid, record.ts, record.vector);
  }

  /** The target's batch for vectors of this shape; a batch of another shape is sent first. */
  private pendingFor(target: Target, dim: number, dtype: VectorDType): VectorBatch {
    if (target.values.count > 0) this.sendValues(target);
    const pending = target.pending;
    if (pending !== undefined && pending.dim === dim && pending.dtype === dtype) return pending;
    if (pending?.count) this.flushVectors(target);
    return (target.pending = new VectorBatch(dim, dtype, batchRows(dim, dtype, target.ring.maxPayloadLength)));
  }

  /** Sends what the target has pending: its vector batch or its value batch (only one has records at a time). */
  private flushTarget(target: Target): void {
    if (target.values.count > 0) this.sendValues(target);
    this.flushVectors(target);
  }

  private flushVectors(target: Target): void {
    const batch = target.pending;
    if (batch === undefined || batch.count === 0) return;
    let offset: number;
    do {
      offset = this.claim(target, frameType(FrameKind.VectorBatch, target.port), batch.frameSize());
      writeRecordBatch(target.ring.data, offset, batch.input());
    } while (!this.publish(target, offset));
    batch.clear();
  }

  private put(target: Target, type: number): void {
    this.flushTarget(target);
    let offset: number;
    do {
      offset = this.claim(target, type, this.prepared.size);
      this.prepared.writeInto(target.ring.data, offset);
    } while (!this.publish(target, offset));
  }

  // ---------------------------------------------------------------- async internals

  private tryPut(target: Target, type: number): boolean {
    let offset: number;
    do {
      offset = target.ring.tryClaim(type, this.prepared.size);
      if (offset < 0) return false;
      this.prepared.writeInto(target.ring.data, offset);
    } while (!target.ring.tryCommit(offset));
    return true;
  }

  /** The slow path of writeAsync: wait for room in the full ring, then do the rest of the targets. */
  private async finishAsync(edgeIndex: number, targets: Target[], targetIndex: number, type: number, value: unknown): Promise<void> {
    for (let i = targetIndex; i < targets.length; i++) await this.putAsync(targets[i]!, type);
    for (let e = edgeIndex + 1; e < this.edges.length; e++) {
      const edge = this.edges[e]!;
      const edgeType = frameType(this.prepared.kind, edge.port);
      const t = edge.router.route(value);
      for (const target of t >= 0 ? [edge.targets[t]!] : edge.targets) await this.putAsync(target, edgeType);
    }
  }

  private async putAsync(target: Target, type: number): Promise<void> {
    let offset: number;
    do {
      offset = await target.ring.claimAsync(type, this.prepared.size);
      this.prepared.writeInto(target.ring.data, offset);
    } while (!target.ring.tryCommit(offset));
  }

  private async putBatchAsync(target: Target, batch: VectorRows): Promise<void> {
    const type = frameType(FrameKind.VectorBatch, target.port);
    const size = batch.frameSize();
    let offset: number;
    do {
      offset = target.ring.tryClaim(type, size);
      if (offset < 0) offset = await target.ring.claimAsync(type, size);
      writeRecordBatch(target.ring.data, offset, batch.input());
    } while (!target.ring.tryCommit(offset));
    if (batch === target.pending) target.pending.clear();
  }

  private async putBatchRefAsync(target: Target, batch: SharedVectorBatch): Promise<void> {
    batch.seal();
    const type = frameType(FrameKind.BatchRef, target.port);
    let offset: number;
    do {
      offset = target.ring.tryClaim(type, BATCH_REF_SIZE);
      if (offset < 0) offset = await target.ring.claimAsync(type, BATCH_REF_SIZE);
    } while (!this.commitBatchRef(target, offset, batch));
  }

  /**
   * Sends an arena batch by reference now, when that needs neither waiting nor copying: one edge,
   * routed whole to one ring (not broadcast, not keyed), with room for the frame. Else false, and
   * nothing was sent.
   */
  trySendBatchRef(batch: SharedVectorBatch): boolean {
    const edge = this.edges.length === 1 ? this.edges[0]! : undefined;
    if (edge === undefined || !edge.batchable || this.hasPendingValues()) return false;
    const t = edge.router.route(undefined);
    if (t < 0) return false;
    const target = edge.targets[t]!;
    batch.seal();
    let offset: number;
    do {
      offset = target.ring.tryClaim(frameType(FrameKind.BatchRef, target.port), BATCH_REF_SIZE);
      if (offset < 0) return false;
    } while (!this.commitBatchRef(target, offset, batch));
    return true;
  }

  /** Writes and commits a BatchRef frame; false when the reader revoked the claim (see publish). */
  private commitBatchRef(target: Target, offset: number, batch: SharedVectorBatch): boolean {
    writeBatchRef(target.ring.data, offset, batch.arena.id, batch.layout.offset);
    return target.ring.tryCommit(offset);
  }
}
