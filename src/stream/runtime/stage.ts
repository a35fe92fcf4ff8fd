import { performance } from 'node:perf_hooks';
import { encodeEnvelope } from '../../codec/index.js';
import { SharedRing, TimeoutError } from '../../ring/index.js';
import { ServiceClient, type ServiceClientHandle } from '../../service/index.js';
import { buildChain, loadFn, type ChainNode, type Link } from './chain.js';
import { KeySelectorError, messageOf, OperatorError } from './errors.js';
import type { FnRef } from '../plan/functions.js';
import type { InputBatch } from '../batches/batch-ref.js';
import { StageCounters } from './stage-counters.js';
import { EdgeWriter, type EdgeTask } from './edge-writer.js';
import type { OperatorContext } from '../operators/context.js';
import { FrameKind, isRecordKind, kindOf, portOf, readControl, RecordDecoder, type ArenaHandle } from './frames.js';
import { MinWatermark } from '../operators/index.js';
import type { PartitionChanges } from '../../state/index.js';
import { StageState, TableOutsideKeyedStageError, type CheckpointWritten, type StageStateTask } from './stage-state.js';

/** Everything one worker needs to run one instance of a vertex (structured-cloneable). */
export interface StageTask {
  name: string;
  instance: number;
  parallelism: number;
  input: SharedArrayBuffer;
  producers: number;
  chain: ChainNode[];
  outputs: EdgeTask[];
  /** Ring to the main thread for failures and side outputs. */
  channel: SharedArrayBuffer;
  /** Processing-time operators need the clock to advance while input is idle. */
  processingTime: boolean;
  /** Per input port, the key function the records were routed by (to name the key of a failed record). */
  inputKeys: (FnRef | undefined)[];
  /** Records' vectors are views over the input ring, valid during the call only. */
  zeroCopyVectors: boolean;
  /** Feed arenas that batch references on the input point into. */
  arenas: ArenaHandle[];
  services?: unknown;
  /** Shared buffers every operator reaches as ctx.shared (env.share). */
  shared: Record<string, SharedArrayBuffer>;
  /** The job's live counters and this instance's slot in them. */
  counters: SharedArrayBuffer;
  counterSlot: number;
  /** The keyed stage of a job with tables: this instance's tables (restored before the first record). */
  state?: StageStateTask;
  /** Why ctx.table is not available here (when `state` is absent). */
  noTables?: string;
}

export interface StageReport {
  instance: number;
  records: number;
  failures: number;
  /** The keyed stage: every entry of this instance's tables at its end. */
  tables?: PartitionChanges;
}

/** Messages a stage sends the main thread on the job channel. */
export type ChannelMessage =
  | { type: 'failure'; operator: string; key: string | undefined; record: unknown; error: { name: string; message: string; stack?: string; code?: string } }
  | { type: 'side'; operator: string; tag: string; value: unknown }
  | { type: 'checkpoint'; partition: string; written: CheckpointWritten }
  | { type: 'stateError'; partition: string; error: { name: string; message: string; code?: string } };

const IDLE_TICK_MS = 50;
/**
 * What a stage emitted goes out at the end of each pass over its input, or once a pass has run this
 * long: a slow operator working through a deep input ring would otherwise hold all of its output
 * back until it caught up (Flink's buffer timeout, with a bound fit for local latency).
 */
const MAX_OUTPUT_DELAY_MS = 2;
/** Frames read per pass of the stage loop; while a checkpoint is being written, few: each pass ends with one event-loop turn for its file I/O. */
const FRAMES_PER_PASS = 4096;
const FRAMES_PER_PASS_WRITING = 8;

/** Runs one vertex instance until every producer has ended: the task export every stage worker runs. */
export async function runStage(task: StageTask): Promise<StageReport> {
  const input = SharedRing.attach(task.input);
  const channel = SharedRing.attach(task.channel);
  const report: StageReport = { instance: task.instance, records: 0, failures: 0 };
  const send = (message: ChannelMessage) => channel.write(encodeMessage(message), FrameKind.Value);
  // A record that cannot travel on (the codec refused it, or it is larger than a frame) is the
  // failure of the chain's last operator, which emitted it.
  const emitter = task.chain[task.chain.length - 1]?.name ?? task.name;
  const writer = await EdgeWriter.open(task.outputs, task.instance, (value, error) => {
    report.failures++;
    send(failureMessage(error, emitter, value));
  });
  const output = new StageOutput(writer);
  const counters = StageCounters.attach(task.counters);
  const services = task.services === undefined ? {} : ServiceClient.connect(task.services as ServiceClientHandle).services;
  const state = task.state ? await StageState.open(task.state, task.instance, task.parallelism) : undefined;
  const partitionName = task.state?.partition ?? '';
  const context = (name: string): OperatorContext => ({
    table: state
      ? (table: string) => state.table(table)
      : (table: string) => {
          throw new TableOutsideKeyedStageError(name, table, task.noTables ?? 'this stage holds no tables');
        },
    instance: task.instance,
    parallelism: task.parallelism,
    name,
    services,
    shared: task.shared,
    get origin() {
      return writer.origin;
    },
  });
  const head = await buildChain(task.chain, context, output, (operator, tag, value) => send({ type: 'side', operator, tag, value }));

  const inputKeys = await Promise.all(task.inputKeys.map((ref) => (ref ? loadFn(ref) : undefined)));
  const keyOf = (value: unknown, port: number): string | undefined => {
    try {
      const key = inputKeys[port]?.(value);
      return key === undefined ? undefined : String(key);
    } catch {
      return undefined;
    }
  };
  const decoder = new RecordDecoder(input.data, !task.zeroCopyVectors, task.arenas);
  output.follow(decoder.input);
  const watermarks = new MinWatermark(task.producers);
  const barriers = new Map<number, number>();
  const checkpoints = new Map<number, number>();
  let ended = 0;
  const partition = state?.partition;

  let port = 0;
  let passStarted = 0;
  const processRecord = (value: unknown, ts: number, origin: number): void => {
    writer.origin = origin;
    partition?.beginRecord(value, ts);
    try {
      head.process(value, ts, port);
    } catch (error) {
      report.failures++;
      send(failureMessage(error, task.chain[0]?.name ?? task.name, value, keyOf(value, port)));
    }
    partition?.endRecord();
  };
  // What a watermark fires (window results) may fail downstream of the operator (a key selector,
  // a bad timestamp): that is reported, and the stage goes on.
  const advance = (watermark: number): void => {
    try {
      // Windowed tables move on with event time: expired windows close (their handlers run) and are dropped.
      partition?.advanceTime(watermark);
    } catch (error) {
      report.failures++;
      send(failureMessage(error, task.name, undefined));
    }
    try {
      head.onWatermark(watermark);
    } catch (error) {
      report.failures++;
      send(failureMessage(error, task.name, undefined));
    }
  };
  const onFrame = (type: number, data: Uint8Array, offset: number): void => {
    const kind = kindOf(type);
    if (isRecordKind(kind)) {
      port = portOf(type);
      const frameStarted = performance.now();
      report.records += decoder.decode(kind, offset, processRecord);
      // What operators emit outside a record's processing (windows firing, flushes) derives from no one input.
      writer.origin = 0;
      // Rows of a referenced batch kept in place go on as soon as the batch is done.
      if (kind === FrameKind.BatchRef) output.sendKept();
      const now = performance.now();
      // A frame that took longer than the bound to process: its operators are slow, so until a
      // frame goes faster, each record they emit is timed and goes out within the bound too.
      output.timed = now - frameStarted >= MAX_OUTPUT_DELAY_MS;
      if (now - passStarted >= MAX_OUTPUT_DELAY_MS) {
        output.flush();
        passStarted = performance.now();
      }
      return;
    }
    const mark = readControl(data, offset);
    if (kind === FrameKind.Watermark) {
      if (watermarks.update(mark.producer, mark.watermark)) advance(watermarks.watermark);
    } else if (kind === FrameKind.Barrier) {
      const seen = (barriers.get(mark.epoch) ?? 0) + 1;
      if (seen === task.producers) {
        barriers.delete(mark.epoch);
        output.barrier(mark.epoch);
      } else barriers.set(mark.epoch, seen);
    } else if (kind === FrameKind.Checkpoint) {
      // Sources send nothing past a checkpoint barrier until it has reached the sinks, so once it
      // has come from every producer, this instance has seen exactly the records before it.
      const seen = (checkpoints.get(mark.epoch) ?? 0) + 1;
      if (seen === task.producers) {
        checkpoints.delete(mark.epoch);
        // The barrier goes on first: the sinks prepare and the sources resume while this thread
        // takes and encodes its changes (100-600 ms for 0.5 M entries), before its next record.
        output.checkpoint(mark.epoch);
        if (state) {
          state.checkpoint(
            mark.epoch,
            (written) => send({ type: 'checkpoint', partition: partitionName, written }),
            (error) => send({ type: 'stateError', partition: partitionName, error: errorFields(error) }),
          );
        }
      } else checkpoints.set(mark.epoch, seen);
    } else if (kind === FrameKind.End) {
      ended++;
      // An ended producer holds no watermark back any more.
      if (watermarks.update(mark.producer, Infinity) && ended < task.producers) advance(watermarks.watermark);
    }
  };

  while (ended < task.producers) {
    passStarted = performance.now();
    // A pass over a full ring of batches can last seconds: a checkpoint write under way (open,
    // write, fsync: an event-loop turn each) would take that long per step, and hold back the next.
    const frames = input.drain(onFrame, state?.writing ? FRAMES_PER_PASS_WRITING : FRAMES_PER_PASS);
    // Processing-time windows fire on the clock, busy or idle.
    if (task.processingTime) advance(Math.floor(performance.timeOrigin + performance.now()));
    // What this pass produced goes out now: batches are as large as the load makes them.
    output.flush();
    if (frames > 0) counters.publish(task.counterSlot, report.records, output.emitted, report.failures, watermarks.watermark);
    if (state?.writing) {
      // A checkpoint's file writes complete on this thread's event loop: give it a turn each pass.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (frames === 0) {
        try {
          if (!input.waitReadable(1)) break;
        } catch (error) {
          if (!(error instanceof TimeoutError)) throw error;
        }
      }
      continue;
    }
    if (frames > 0) continue;
    if (task.processingTime) {
      try {
        if (!input.waitReadable(IDLE_TICK_MS)) break;
      } catch (error) {
        if (!(error instanceof TimeoutError)) throw error; // else: an idle tick, to advance the clock
      }
    } else if (!input.waitReadable()) {
      break; // the ring was closed under us: the job is being torn down
    }
  }
  try {
    head.flush();
  } catch (error) {
    report.failures++;
    send(failureMessage(error, task.name, undefined));
  }
  if (state) {
    await state.settle();
    // With a store the job checkpoints, and its final checkpoint holds every entry (env.tables reads
    // it when asked): cloning 1 M entries to the main thread took ~1 s of a 1 M-order job.
    if (task.state!.store === undefined) report.tables = state.finalChanges();
    await state.close();
  }
  output.end();
  counters.publish(task.counterSlot, report.records, output.emitted, report.failures, watermarks.watermark);
  return report;
}

function errorFields(error: unknown): { name: string; message: string; code?: string } {
  const e = error as Error & { code?: string };
  return { name: e?.name ?? 'Error', message: messageOf(error), code: e?.code };
}

/** The last link of a worker chain: hands each record to the edge writer (blocking when full). */
class StageOutput implements Link {
  /** Records the chain emitted (counted here, where every one passes). */
  emitted = 0;
  /**
   * Whether each record emitted reads the clock, and what was emitted goes out once the last send
   * is MAX_OUTPUT_DELAY_MS old: while the operators are slow (a frame's records take longer than
   * that), a result then leaves as it is made, not with the rest of its frame's (an SSE client
   * sees each event when it is ready). On at first; the stage turns it off after each fast frame,
   * so a fast pipeline reads no clock per record.
   */
  timed = true;
  private lastSent = 0;
  constructor(private readonly writer: EdgeWriter) {}

  follow(input: InputBatch): void {
    this.writer.follow(input);
  }

  sendKept(): void {
    this.writer.sendKept();
  }

  process(value: unknown, ts: number): void {
    this.emitted++;
    this.writer.write(value, ts);
    if (this.timed) {
      const now = performance.now();
      if (now - this.lastSent >= MAX_OUTPUT_DELAY_MS) {
        this.writer.flush();
        this.lastSent = now;
      }
    }
  }

  onWatermark(watermark: number): void {
    this.writer.control(FrameKind.Watermark, watermark);
  }

  barrier(epoch: number): void {
    this.writer.control(FrameKind.Barrier, epoch);
  }

  checkpoint(id: number): void {
    this.writer.control(FrameKind.Checkpoint, id);
  }

  /** Sends the records batched so far. (Link.flush, the end-of-input flush, is onEnd's job here.) */
  flush(): void {
    this.writer.flush();
    if (this.timed) this.lastSent = performance.now();
  }

  end(): void {
    this.writer.end();
  }
}

function failureMessage(error: unknown, fallbackOperator: string, record: unknown, routedKey?: string): ChannelMessage {
  const e = error as Error & { code?: string };
  const operator = error instanceof OperatorError ? error.operator : fallbackOperator;
  // A key selector failed on what an operator emitted: that record, not the chain's input, is the bad one.
  const selector = error instanceof KeySelectorError;
  const key = selector ? undefined : error instanceof OperatorError && error.key !== undefined ? String(error.key) : routedKey;
  const cause = (error instanceof OperatorError && !selector ? error.cause : error) as (Error & { code?: string }) | undefined;
  return {
    type: 'failure',
    operator,
    key,
    record: selector ? error.record : record,
    error: {
      name: (cause as Error | undefined)?.name ?? 'Error',
      message: selector ? error.message : messageOf(cause),
      stack: (cause as Error | undefined)?.stack,
      code: cause?.code ?? e?.code,
    },
  };
}

/** Serializes a channel message; a value that cannot be cloned travels as its string form. */
function encodeMessage(message: ChannelMessage): Uint8Array {
  try {
    return encodeEnvelope(message);
  } catch {
    const fallback =
      message.type === 'failure' ? { ...message, record: String(message.record) } : message.type === 'side' ? { ...message, value: String(message.value) } : message;
    return encodeEnvelope(fallback);
  }
}
