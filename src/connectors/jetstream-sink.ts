/**
 * toJetStream: publishes each record to a JetStream subject and waits for the server's acks, with
 * at most `maxInFlight` publishes unacknowledged (a full window makes the sink, and so the
 * pipeline, wait). `msgId` sets `Nats-Msg-Id`, so a record published again after a redelivery is
 * dropped by the stream's de-duplication window.
 *
 * A publish is a plain NATS publish with a reply subject of the sink's own (`<inbox>.<n>` for
 * publish n), and the acks come on one subscription, timed out by one sweep. nats.js's
 * `js.publish` makes each publish a request, which builds an Error (a stack trace) and a timer for
 * every one: that was ~15 % of the main thread of a JetStream → map → JetStream job, and much of
 * its garbage. A publish that fails or times out is retried with `js.publish`.
 */
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { createInbox, errors as natsErrors, headers, NoRespondersError, type Msg } from '@nats-io/transport-node';
import { InvalidArgumentError } from '../errors.js';
import { connectNats, serverList, type NatsConnection } from '../nats/index.js';
import type { SinkConnector } from '../stream/index.js';
import { checkFormat, encoderFor, type MessageFormat } from './codec.js';
import { JetStreamUnavailableError, PublishError, UnknownSubjectError } from './errors.js';
import { isNoResponders } from './jetstream-source.js';
import { checkKeys, positiveInteger, subjectName } from './options.js';

export interface JetStreamSinkOptions<T> {
  servers: string | string[];
  /** The subject of every record, or a function giving each record's. */
  subject: string | ((record: T) => string);
  /** The record's id for the stream's de-duplication (`Nats-Msg-Id`). */
  msgId?: (record: T) => string;
  encode: MessageFormat;
  /** Publishes awaiting the server's ack at most. Default 512. */
  maxInFlight?: number;
  /**
   * How long a publish is retried while the server cannot take it (a restart, a lost connection) before
   * the sink fails (ms). Retries keep the record's Nats-Msg-Id, so none is stored twice. Default 30 000.
   */
  retryMs?: number;
  connectTimeoutMs?: number;
  name?: string;
}

const KEYS = ['servers', 'subject', 'msgId', 'encode', 'maxInFlight', 'retryMs', 'connectTimeoutMs', 'name'] as const;

/** A publish the server has not acked within this long is retried (nats.js's JetStream default). */
const ACK_TIMEOUT_MS = 5000;
/** How often unacked publishes are looked at for that timeout. */
const SWEEP_MS = 250;

/** A publish sent and not yet answered: what a retry needs. */
interface Awaiting {
  subject: string;
  data: Uint8Array;
  msgID: string | undefined;
  sentAt: number;
}

const utf8 = new TextDecoder();

export function toJetStream<T = unknown>(options: JetStreamSinkOptions<T>): JetStreamSink<T> {
  return new JetStreamSink<T>(options);
}

export class JetStreamSink<T = unknown> implements SinkConnector<T> {
  readonly connector = 'sink' as const;
  readonly name: string;
  private readonly servers: string[];
  private readonly subject: string | ((record: T) => string);
  private readonly msgId: ((record: T) => string) | undefined;
  private readonly encode: (value: unknown) => Uint8Array;
  private readonly maxInFlight: number;
  private readonly connectTimeoutMs: number;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private readonly retryMs: number;
  /** Where the server's acks come: `${inbox}.${n}` answers publish n. */
  private inbox = '';
  /** Publishes sent on the fast path and not yet answered, in the order they were sent. */
  private readonly awaiting = new Map<number, Awaiting>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /**
   * Publishes in issue order: the nth write is publish n. Every one below `settledBelow` has
   * settled (acknowledged, or failed into `failure`); those above it that settled early (a
   * retried one holds the line back) are in `settledAhead`. No promise of our own per publish.
   */
  private issued = 0;
  private settledBelow = 1;
  private readonly settledAhead = new Set<number>();
  /** flush() callers, each waiting for the publishes issued before it (in `upTo` order). */
  private flushWaiters: { upTo: number; resolve: () => void }[] = [];
  private failure: Error | undefined;
  private room: (() => void) | undefined;
  /** Records published and acknowledged by the server. */
  published = 0;

  constructor(options: JetStreamSinkOptions<T>) {
    const o = checkKeys('toJetStream', options, KEYS);
    this.servers = serverList(o.servers, 'toJetStream');
    if (typeof o.subject === 'string') this.subject = subjectName('toJetStream subject', o.subject, false);
    else if (typeof o.subject === 'function') this.subject = o.subject as (record: T) => string;
    else throw new InvalidArgumentError('toJetStream subject must be a subject or a function (record) => subject');
    if (o.msgId !== undefined && typeof o.msgId !== 'function') throw new InvalidArgumentError('toJetStream msgId must be a function (record) => id');
    this.msgId = o.msgId as ((record: T) => string) | undefined;
    this.encode = encoderFor(checkFormat(o.encode, 'toJetStream encode'));
    this.maxInFlight = positiveInteger('toJetStream maxInFlight', o.maxInFlight, 512);
    this.connectTimeoutMs = positiveInteger('toJetStream connectTimeoutMs', o.connectTimeoutMs, 5000);
    this.retryMs = positiveInteger('toJetStream retryMs', o.retryMs, 30_000);
    this.name = o.name === undefined ? `jetstream:${typeof this.subject === 'string' ? this.subject : 'subjects'}` : String(o.name);
  }

  async open(): Promise<void> {
    if (this.nc) return;
    const nc = await connectNats(this.servers, { name: this.name, connectTimeoutMs: this.connectTimeoutMs });
    try {
      const jsm = await jetstreamManager(nc).catch((error: unknown) => {
        throw new JetStreamUnavailableError(this.servers, { cause: error });
      });
      // A fixed subject is checked now: no stream for it is an error before the first record.
      if (typeof this.subject === 'string') {
        const subject = this.subject;
        await jsm.streams.find(subject).catch((error: unknown) => {
          throw new UnknownSubjectError(subject, 'no JetStream stream captures it', { cause: error });
        });
      }
      this.js = jetstream(nc);
      this.jsm = jsm;
      this.inbox = createInbox();
      nc.subscribe(`${this.inbox}.*`, { callback: (error, m) => this.onReply(error, m) });
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
      this.nc = nc;
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  write(record: T): void | Promise<void> {
    if (this.failure) throw this.failure;
    const subject = typeof this.subject === 'string' ? this.subject : this.subject(record);
    if (typeof subject !== 'string' || subject.length === 0) throw new PublishError(String(subject), 'the subject function must return a non-empty string');
    let data: Uint8Array;
    try {
      data = this.encode(record);
    } catch (error) {
      throw new PublishError(subject, `cannot encode the record: ${(error as Error).message}`, { cause: error });
    }
    const id = this.msgId?.(record);
    const msgID = id === undefined ? undefined : String(id);
    const n = ++this.issued;
    let h;
    if (msgID !== undefined) {
      h = headers();
      h.set('Nats-Msg-Id', msgID);
    }
    const sent: Awaiting = { subject, data, msgID, sentAt: Date.now() };
    try {
      this.nc!.publish(subject, data, { reply: `${this.inbox}.${n}`, headers: h });
      this.awaiting.set(n, sent);
    } catch (error) {
      // Closed or draining: the retry path says what that means.
      void this.retry(n, sent, error);
    }
    if (this.inFlight >= this.maxInFlight) return this.waitForRoom();
  }

  /** The server's answer to publish n: its ack, an API error, or "no responders" (no stream captures the subject). */
  private onReply(error: Error | null, m: Msg): void {
    if (error) return; // the subscription closed (close())
    const n = Number(m.subject.slice(this.inbox.length + 1));
    const sent = this.awaiting.get(n);
    if (sent === undefined) return; // answered late, after its timeout handed it to retry()
    this.awaiting.delete(n);
    if (m.data.length === 0 && m.headers?.code === 503) {
      void this.retry(n, sent, new natsErrors.RequestError('no responders', { cause: new NoRespondersError(sent.subject) }));
      return;
    }
    let ack: { stream?: string; error?: { description?: string; err_code?: number } };
    try {
      ack = JSON.parse(utf8.decode(m.data));
    } catch (cause) {
      void this.retry(n, sent, cause);
      return;
    }
    if (ack.error) this.fail(n, new PublishError(sent.subject, ack.error.description ?? `refused (${JSON.stringify(ack.error)})`, { cause: ack.error }));
    else if (typeof ack.stream === 'string' && ack.stream.length > 0) this.acknowledged(n);
    else void this.retry(n, sent, new Error(`not a JetStream ack: ${utf8.decode(m.data).slice(0, 200)}`));
  }

  /** Publishes unanswered for ACK_TIMEOUT_MS go to retry() (the oldest first: the map is in send order). */
  private sweep(): void {
    const before = Date.now() - ACK_TIMEOUT_MS;
    for (const [n, sent] of this.awaiting) {
      if (sent.sentAt > before) break;
      this.awaiting.delete(n);
      void this.retry(n, sent, new natsErrors.TimeoutError());
    }
  }

  private acknowledged(n: number): void {
    this.published++;
    this.settle(n);
  }

  private settle(n: number): void {
    if (n === this.settledBelow) {
      this.settledBelow++;
      while (this.settledAhead.delete(this.settledBelow)) this.settledBelow++;
      while (this.flushWaiters.length > 0 && this.flushWaiters[0]!.upTo < this.settledBelow) this.flushWaiters.shift()!.resolve();
    } else this.settledAhead.add(n);
    const room = this.room;
    this.room = undefined;
    room?.();
  }

  /** A publish that failed: retried (same Nats-Msg-Id) while the server cannot take it, else the sink fails with a coded error. */
  private async retry(n: number, { subject, data, msgID }: Awaiting, first: unknown): Promise<void> {
    const until = Date.now() + this.retryMs;
    let error = first;
    for (let attempt = 1; ; attempt++) {
      // JetStream answered and refused it: retrying would not help.
      if (error instanceof JetStreamApiError) return this.fail(n, new PublishError(subject, error.message, { cause: error }));
      if (isNoResponders(error) && (await this.noStreamFor(subject))) {
        return this.fail(n, new UnknownSubjectError(subject, 'no JetStream stream captures it', { cause: error }));
      }
      if (Date.now() >= until) return this.fail(n, new PublishError(subject, `not acknowledged within ${this.retryMs} ms: ${(error as Error)?.message ?? error}`, { cause: error }));
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * attempt)));
      try {
        await this.js!.publish(subject, data, msgID === undefined ? undefined : { msgID });
        return this.acknowledged(n);
      } catch (e) {
        error = e;
      }
    }
  }

  private fail(n: number, error: Error): void {
    this.failure ??= error;
    this.settle(n);
  }

  /** True when the server says no stream captures `subject` (false when it cannot say now). */
  private async noStreamFor(subject: string): Promise<boolean> {
    try {
      await this.jsm!.streams.find(subject);
      return false;
    } catch (error) {
      return error instanceof JetStreamApiError || /no stream matches/i.test((error as Error)?.message ?? '');
    }
  }

  private get inFlight(): number {
    return this.issued - this.settledBelow + 1 - this.settledAhead.size;
  }

  private async waitForRoom(): Promise<void> {
    while (this.inFlight >= this.maxInFlight) await new Promise<void>((resolve) => (this.room = resolve));
    if (this.failure) throw this.failure;
  }

  /** Resolves once every publish issued so far has settled (later ones are not waited for); rejects with the sink's failure. */
  async flush(): Promise<void> {
    const upTo = this.issued;
    if (upTo >= this.settledBelow) await new Promise<void>((resolve) => this.flushWaiters.push({ upTo, resolve }));
    if (this.failure) throw this.failure;
  }

  async close(error?: Error): Promise<void> {
    try {
      if (!error) await this.flush();
    } finally {
      clearInterval(this.sweeper);
      const nc = this.nc;
      this.nc = undefined;
      if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
    }
  }
}
