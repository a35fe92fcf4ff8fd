/**
 * fromJetStream: a durable pull consumer on a JetStream stream as a source connector. Processes
 * (on any box) that name the same durable share its messages, as a work queue. A message is acked
 * once every record derived from it has reached the sinks (see stream/connector.ts for how that
 * is known), kept alive with `working()` while it is in the pipeline, and, when the job fails,
 * nak'd so it is redelivered at once. A message delivered more than `maxDeliver` times goes to the
 * dead-letter subject (when one is set) with what is known of its failure, and is terminated; so
 * is a message that cannot be decoded, after being reported to `env.onError`.
 *
 * With checkpoints (tables), acks go at the checkpoint commits, and a batch's `position` is the
 * set of stream sequences fed so far whose acks the server has not yet confirmed (at most
 * maxAckPending of them, as ranges). Recovery `seek`s to the committed one: a message of that
 * set that comes again (its ack was lost in the crash, or it was given back by a rollback) is
 * already in the restored tables, so it is acked and not fed twice. Everything fed after the
 * checkpoint was never acked and comes back by redelivery. (A durable shared by processes with
 * tables of their own: a message redelivered to another process is counted there, once more.)
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiError, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { headers, nanos } from '@nats-io/transport-node';
import { connectNats, serverList, type NatsConnection } from '../nats/index.js';
import type { SourceBatch, SourceConnector, SourceContext } from '../stream/index.js';
import { checkFormat, decoderFor, type MessageFormat } from './codec.js';
import { DecodeError, JetStreamUnavailableError, UnknownStreamError, UnknownSubjectError } from './errors.js';
import { checkKeys, positiveInteger, streamName, subjectName } from './options.js';
import { InvalidArgumentError } from '../errors.js';

/** A JetStream source's checkpointed position: sequences fed and not known to be acked, as [from, to] ranges. */
export interface JetStreamPosition {
  readonly stream: string;
  readonly durable: string;
  readonly unacked: ReadonlyArray<readonly [number, number]>;
}

export interface JetStreamSourceOptions {
  /** NATS server URL(s). */
  servers: string | string[];
  /** The stream to read (it must exist). */
  stream: string;
  /** The durable consumer's name: created if missing, bound if present; shared by every process naming it. */
  durable: string;
  /** Only these subjects of the stream (the consumer's filter, used when it is created). */
  subjects?: string | string[];
  /** How a message's bytes become a record. */
  decode: MessageFormat;
  /** Deliveries of a message before it goes to the dead-letter subject (or is terminated). Default 5. */
  maxDeliver?: number;
  /** Where a message goes after `maxDeliver` deliveries, with headers telling why. */
  deadLetterSubject?: string;
  /** How long the server waits for an ack before it redelivers (ms; `working()` extends it). Default 30 000. */
  ackWaitMs?: number;
  /** Messages per pull and per batch fed to the pipeline. Default 256. */
  batchSize?: number;
  /** Messages delivered but not acked, over every process of the durable (when created). Default 4096. */
  maxAckPending?: number;
  /** Budget of the first connect (ms). Default 5000. */
  connectTimeoutMs?: number;
  /** The source's name in the job. Default `jetstream:<stream>/<durable>`. */
  name?: string;
}

const KEYS = ['servers', 'stream', 'durable', 'subjects', 'decode', 'maxDeliver', 'deadLetterSubject', 'ackWaitMs', 'batchSize', 'maxAckPending', 'connectTimeoutMs', 'name'] as const;

/** Headers a dead-lettered message carries. */
export const DEAD_LETTER_HEADERS = {
  error: 'Ringflow-Error',
  stream: 'Ringflow-Stream',
  sequence: 'Ringflow-Sequence',
  subject: 'Ringflow-Subject',
  deliveries: 'Ringflow-Deliveries',
} as const;

/**
 * A message given back is redelivered after this delay: by then this client's pull requests are
 * gone. (Redelivered at once into a pull request of a client that then goes away, nats-server 2.9
 * rolls the delivery back and loses count of the earlier deliveries, so maxDeliver never came.)
 */
const NAK_DELAY_MS = 500;

export function fromJetStream<T = unknown>(options: JetStreamSourceOptions): JetStreamSource<T> {
  return new JetStreamSource<T>(options);
}

export class JetStreamSource<T = unknown> implements SourceConnector<T> {
  readonly connector = 'source' as const;
  readonly name: string;
  private readonly servers: string[];
  private readonly stream: string;
  private readonly durable: string;
  private readonly subjects: string[];
  private readonly format: MessageFormat;
  private readonly decode: (data: Uint8Array) => unknown;
  private readonly maxDeliver: number;
  private readonly deadLetterSubject: string | undefined;
  private readonly ackWaitMs: number;
  private readonly batchSize: number;
  private readonly maxAckPending: number;
  private readonly connectTimeoutMs: number;

  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private messages: ConsumerMessages | undefined;
  /** Delivered, not yet acked, nak'd or terminated: kept alive with working(), nak'd if the job fails. */
  private readonly unsettled = new Set<JsMsg>();
  /** Received, not yet fed. */
  private queue: JsMsg[] = [];
  private wake: (() => void) | undefined;
  private stopped = false;
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  /** Messages received, acked, dead-lettered, that failed to decode (for tests and status). */
  readonly counts = { received: 0, acked: 0, deadLettered: 0, undecodable: 0, duplicates: 0 };
  readonly replayable = true;
  /** Sequences fed whose acks the server has not confirmed, and those a seek said are in the state already. */
  private readonly unacked = new Set<number>();
  /** From the position sought: sequences already in the restored state (acked, not fed, when they come again). */
  private readonly covered = new Set<number>();
  private opened = false;

  constructor(options: JetStreamSourceOptions) {
    const o = checkKeys('fromJetStream', options, KEYS);
    this.servers = serverList(o.servers, 'fromJetStream');
    this.stream = streamName('fromJetStream stream', o.stream);
    this.durable = streamName('fromJetStream durable', o.durable);
    const subjects = o.subjects === undefined ? [] : Array.isArray(o.subjects) ? o.subjects : [o.subjects];
    this.subjects = subjects.map((s) => subjectName('fromJetStream subjects', s, true));
    this.format = checkFormat(o.decode, 'fromJetStream decode');
    this.decode = decoderFor(this.format);
    this.maxDeliver = positiveInteger('fromJetStream maxDeliver', o.maxDeliver, 5);
    this.deadLetterSubject = o.deadLetterSubject === undefined ? undefined : subjectName('fromJetStream deadLetterSubject', o.deadLetterSubject, false);
    this.ackWaitMs = positiveInteger('fromJetStream ackWaitMs', o.ackWaitMs, 30_000);
    this.batchSize = positiveInteger('fromJetStream batchSize', o.batchSize, 256);
    this.maxAckPending = positiveInteger('fromJetStream maxAckPending', o.maxAckPending, 4096);
    this.connectTimeoutMs = positiveInteger('fromJetStream connectTimeoutMs', o.connectTimeoutMs, 5000);
    this.name = o.name === undefined ? `jetstream:${this.stream}/${this.durable}` : String(o.name);
  }

  /** Stops taking messages: what was received and not fed goes back to the server, the rest is acked as it completes, and the job ends. */
  stop(): void {
    this.stopped = true;
    void this.messages?.close();
    this.wake?.();
  }

  async *batches(context: SourceContext): AsyncIterable<SourceBatch<T>> {
    // Called again after a rollback: the connection and its consumer stay.
    if (!this.opened) {
      await this.open();
      this.opened = true;
      await this.pruneAcked();
    }
    clearInterval(this.keepAlive);
    this.keepAlive = setInterval(() => {
      for (const m of this.unsettled) m.working();
    }, Math.max(100, this.ackWaitMs / 3));
    this.keepAlive.unref();
    try {
      for (;;) {
        while (this.queue.length === 0 && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        // The client hands over a socket read's messages in one go: let the rest of it arrive, so a
        // batch (and its barrier, and its acks) covers many messages rather than the first one.
        if (this.queue.length < this.batchSize && !this.stopped) await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.stopped) break;
        const taken = this.queue.length <= this.batchSize ? this.queue : this.queue.slice(0, this.batchSize);
        this.queue = taken === this.queue ? [] : this.queue.slice(this.batchSize);
        const records: T[] = [];
        const token: JsMsg[] = [];
        for (const m of taken) {
          if (this.covered.has(m.seq)) {
            // In the restored state already: its ack was lost (a crash) or it was given back (a rollback).
            this.counts.duplicates++;
            this.covered.delete(m.seq);
            this.settle(m, 'ack');
            this.confirmAcks([m.seq]);
            continue;
          }
          if (m.info.deliveryCount > this.maxDeliver) {
            await this.deadLetter(m, `not completed in ${this.maxDeliver} deliveries`);
            continue;
          }
          let value: unknown;
          try {
            value = this.decode(m.data);
          } catch (error) {
            this.undecodable(m, error, context);
            continue;
          }
          records.push(value as T);
          token.push(m);
        }
        if (records.length > 0) {
          for (const m of token) this.unacked.add(m.seq);
          yield { records, token, position: this.position() };
        }
      }
    } finally {
      // Received but never fed: back to the server for another consumer.
      for (const m of this.queue) this.settle(m, 'nak');
      this.queue = [];
    }
  }

  ack(token: unknown): void {
    const messages = token as JsMsg[];
    for (const m of messages) this.settle(m, 'ack');
    this.confirmAcks(messages.map((m) => m.seq));
  }

  /**
   * Where a checkpoint resumes (see the class comment). Called before `batches()` at recovery and
   * after an in-job rollback: what this process holds unacked goes back to the server at once.
   */
  seek(position: unknown): void {
    for (const m of [...this.unsettled]) this.settle(m, 'nak');
    this.queue = [];
    this.unacked.clear();
    this.covered.clear();
    if (position === undefined) return; // nothing committed yet: every unacked message comes again
    const p = position as Partial<JetStreamPosition>;
    if (typeof p !== 'object' || p === null || !Array.isArray(p.unacked) || p.stream !== this.stream || p.durable !== this.durable) {
      throw new InvalidArgumentError(
        `${this.name}: the checkpoint's position ${JSON.stringify(position)?.slice(0, 200)} is not of stream '${this.stream}' durable '${this.durable}'`,
      );
    }
    for (const [from, to] of p.unacked) {
      for (let seq = from; seq <= to; seq++) {
        this.covered.add(seq);
        this.unacked.add(seq);
      }
    }
  }

  /** The position after the batch just fed: plain JSON, a snapshot. */
  private position(): JetStreamPosition {
    const seqs = [...this.unacked].sort((a, b) => a - b);
    const unacked: Array<[number, number]> = [];
    for (const seq of seqs) {
      const last = unacked[unacked.length - 1];
      if (last && last[1] === seq - 1) last[1] = seq;
      else unacked.push([seq, seq]);
    }
    return { stream: this.stream, durable: this.durable, unacked };
  }

  /** Once the server has the acks (a flush: it has read everything sent before), those sequences leave the position. */
  private confirmAcks(seqs: number[]): void {
    const nc = this.nc;
    if (!nc || seqs.length === 0) return;
    nc.flush().then(
      () => {
        for (const seq of seqs) this.unacked.delete(seq);
      },
      () => undefined, // not confirmed: they stay in the position (at worst acked again later)
    );
  }

  /** Sequences at or below the consumer's ack floor are acked for good: they leave the position. */
  private async pruneAcked(): Promise<void> {
    if (this.unacked.size === 0 && this.covered.size === 0) return;
    try {
      const info = await (await jetstreamManager(this.nc!)).consumers.info(this.stream, this.durable);
      const floor = info.ack_floor.stream_seq;
      for (const seq of this.unacked) if (seq <= floor) this.unacked.delete(seq);
      for (const seq of this.covered) if (seq <= floor) this.covered.delete(seq);
    } catch {
      // Kept: a covered sequence that never comes again costs a little room in the position.
    }
  }

  async close(error?: Error): Promise<void> {
    clearInterval(this.keepAlive);
    this.opened = false;
    this.stopped = true;
    this.wake?.();
    // A failed job: what it held goes back now rather than after ackWait.
    for (const m of [...this.unsettled]) this.settle(m, 'nak');
    void error;
    await this.messages?.close().catch(() => undefined);
    const nc = this.nc;
    this.nc = undefined;
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  private settle(m: JsMsg, how: 'ack' | 'nak' | 'term'): void {
    if (!this.unsettled.delete(m)) return;
    if (how === 'ack') {
      m.ack();
      this.counts.acked++;
    } else if (how === 'nak') m.nak(NAK_DELAY_MS);
    else m.term(); // (no reason: nats-server 2.9 ignores a +TERM that carries one)
  }

  private undecodable(m: JsMsg, cause: unknown, context: SourceContext): void {
    this.counts.undecodable++;
    const error = new DecodeError(m.subject, m.seq, this.format, cause);
    context.report({ operator: this.name, key: undefined, record: { subject: m.subject, sequence: m.seq, data: m.data.slice() }, error });
    this.settle(m, 'term');
  }

  private async deadLetter(m: JsMsg, reason: string): Promise<void> {
    if (this.deadLetterSubject !== undefined) {
      const h = headers();
      h.set(DEAD_LETTER_HEADERS.error, reason);
      h.set(DEAD_LETTER_HEADERS.stream, this.stream);
      h.set(DEAD_LETTER_HEADERS.sequence, String(m.seq));
      h.set(DEAD_LETTER_HEADERS.subject, m.subject);
      h.set(DEAD_LETTER_HEADERS.deliveries, String(m.info.deliveryCount));
      try {
        // Into a stream when one captures the subject (acknowledged), else as a plain message.
        await this.js!.publish(this.deadLetterSubject, m.data, { headers: h, msgID: `${this.stream}:${m.seq}` });
      } catch (error) {
        if (!isNoResponders(error)) {
          this.settle(m, 'nak'); // try again on the next delivery
          return;
        }
        this.nc!.publish(this.deadLetterSubject, m.data, { headers: h });
      }
    }
    this.counts.deadLettered++;
    this.settle(m, 'term');
  }

  private async open(): Promise<void> {
    const nc = await connectNats(this.servers, { name: this.name, connectTimeoutMs: this.connectTimeoutMs });
    this.nc = nc;
    try {
      const jsm = await jetstreamManager(nc).catch((error: unknown) => {
        throw new JetStreamUnavailableError(this.servers, { cause: error });
      });
      try {
        await jsm.streams.info(this.stream);
      } catch (error) {
        if (isApiError(error, 10059)) throw new UnknownStreamError(this.stream, { cause: error });
        throw error;
      }
      try {
        await jsm.consumers.info(this.stream, this.durable);
      } catch (error) {
        if (!isApiError(error, 10014)) throw error;
        await this.createConsumer(jsm);
      }
      this.js = jetstream(nc);
      const consumer = await this.js.consumers.get(this.stream, this.durable);
      this.messages = await consumer.consume({
        max_messages: Math.min(this.batchSize * 2, this.maxAckPending),
        callback: (m) => {
          this.counts.received++;
          this.unsettled.add(m);
          if (this.stopped) return this.settle(m, 'nak');
          this.queue.push(m);
          this.wake?.();
        },
      });
    } catch (error) {
      this.nc = undefined;
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  private async createConsumer(jsm: Awaited<ReturnType<typeof jetstreamManager>>): Promise<void> {
    const filter = this.subjects.length === 1 ? { filter_subject: this.subjects[0] } : this.subjects.length > 1 ? { filter_subjects: this.subjects } : {};
    try {
      await jsm.consumers.add(this.stream, {
        durable_name: this.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(this.ackWaitMs),
        // Unlimited on the server: the source itself dead-letters a message past maxDeliver.
        max_deliver: -1,
        max_ack_pending: this.maxAckPending,
        ...filter,
      });
    } catch (error) {
      // Another process made it first: bind to it.
      if (isApiError(error, 10148) || /already in use/i.test((error as Error).message)) return;
      if (/filter subject/i.test((error as Error).message)) {
        throw new UnknownSubjectError(this.subjects.join(', '), `not among the subjects of stream '${this.stream}'`, { cause: error });
      }
      throw error;
    }
  }
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

export function isNoResponders(error: unknown): boolean {
  for (let e = error as { name?: string; cause?: unknown; isNoResponders?: () => boolean } | undefined; e; e = e.cause as typeof e) {
    if (e.name === 'NoRespondersError' || (typeof e.isNoResponders === 'function' && e.isNoResponders())) return true;
  }
  return false;
}
