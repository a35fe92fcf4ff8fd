/**
 * Connectors: `env.from(source)` and `stream.to(sink)` (Flink's fromSource / sinkTo), as thin
 * adapters over the feed source and the callback sink.
 *
 * Acks follow barriers: a source connector hands over batches of records, each with a token; the
 * adapter feeds the batch followed by a FeedBarrier of a new epoch, and once that barrier has
 * reached every sink of the job (every record fed before it has then passed every operator and
 * been handed to its sink, or was reported as a failure on the way) and every sink connector has
 * flushed, the token goes back to the source's `ack`. Filters, flatMaps, keyBy and parallel
 * instances need no record ids for this: barriers are aligned at each stage. Not covered: an
 * operator that holds records back past a barrier (windows, joins), whose records are acked
 * before their results exist.
 *
 * With checkpoints (the environment has a stateDir or stateStore), the contract below is used as
 * follows. Acks go at checkpoints: a batch is acked once a checkpoint taken after it is committed
 * (every sink flushed first). A checkpoint barrier follows a whole batch, never cuts one, and
 * stores the `position` of the last batch before it. At start, and again after an in-job rollback
 * (a worker crashed, `restart`), `seek(position)` of the last committed checkpoint is called on a
 * replayable source (at start, not at all when nothing was committed yet), and then `batches()` is called
 * anew (the previous iteration has been ended with its iterator's `return()`); after a rollback
 * with nothing committed yet, `seek(undefined)`: back to the source's start. A transactional
 * sink gets `recover(committed)` after `open()` and after each rollback, `prepare(N)` once every
 * record before barrier N was given to `write` (no record after it is written until `prepare`
 * resolves), and `commit(N, state)` once checkpoint N (holding `state`) is durable. Sink names
 * must be distinct among transactional sinks: the checkpoint stores their state by name.
 */
import type { PackedStrings } from '../../codec/index.js';
import { InvalidArgumentError } from '../../errors.js';
import type { OperatorFailure } from '../runtime/job.js';
import { FeedBarrier, FeedPosition } from '../runtime/source-driver.js';

/** One batch from a source connector: its records and what `ack` gets back once all are done. */
export interface SourceBatch<T> {
  records: T[];
  /**
   * String records already packed by the codec, in order, before `records` (a file source's lines,
   * cut out of the bytes read: the main thread never makes them strings; the workers do).
   */
  packed?: PackedStrings[];
  token: unknown;
  /**
   * Replayable sources: where the source stands once this batch is done (plain JSON, e.g. a byte
   * offset or a stream sequence). A checkpoint whose barrier follows this batch stores it, and
   * recovery hands it back to `seek`.
   */
  position?: unknown;
}

export interface SourceContext {
  /** Reports a record that cannot enter the pipeline (bad bytes …) as a failed record: to `env.onError`, else kept and counted (execute() rejects after the run). */
  report(failure: OperatorFailure): void;
}

export interface SourceConnector<T = unknown> {
  readonly connector: 'source';
  readonly name: string;
  /** The batches to feed; ends when the source is stopped (or has no more). */
  batches(context: SourceContext): AsyncIterable<SourceBatch<T>>;
  /** Every record of the batch with this token has reached the sinks (or was reported). */
  ack(token: unknown): void | Promise<void>;
  /** Ends `batches` soon (RunningJob.stop()): what was fed is still acked as it completes. */
  stop(): void;
  /** The job ended (with `error` when it failed: what was never acked must go back). */
  close(error?: Error): Promise<void>;
  /** True when `seek` can replay from a stored position (exactly-once state, restart after a crash). */
  readonly replayable?: boolean;
  /**
   * Replayable sources: called before `batches()` at recovery (also after an in-job rollback),
   * with the position of the last committed checkpoint; the next batch starts right after it.
   */
  seek?(position: unknown): void | Promise<void>;
}

/** A committed checkpoint as a transactional sink sees it: its id and what `prepare` returned. */
export interface CommittedSinkState {
  readonly checkpointId: number;
  readonly state: unknown;
}

export interface SinkConnector<T = unknown> {
  readonly connector: 'sink';
  readonly name: string;
  /** Connects; called when the job starts. */
  open(): Promise<void>;
  /** Takes one record; returns a promise only when the caller must wait (backpressure). */
  write(record: T): void | Promise<void>;
  /**
   * Sinks that write each record as text, one after another (a file's lines), may hand that
   * serialization to the workers: `encodeText` turns one record into its text on the worker that
   * made it (it is shipped as source text, so it captures nothing, and throws for a record the
   * sink cannot take: reported as a failure under the sink's name), and `writeText` then gets the
   * texts of many records at once, concatenated, as UTF-8, instead of `write`. The main thread
   * serializes nothing. Used when the stream before `to()` runs on the workers (not straight from
   * a source) with a forward edge, so the order of records is as `write` would see it.
   */
  readonly encodeText?: (record: T) => string;
  writeText?(utf8: Uint8Array, records: number): void | Promise<void>;
  /** Resolves once everything written so far is safely out (throws what failed). */
  flush(): Promise<void>;
  close(error?: Error): Promise<void>;
  /**
   * Transactional sinks (exactly-once output), Flink's two-phase commit. The barrier of checkpoint
   * N has reached this sink: make everything written before it durable but not yet visible, and
   * return plain JSON that checkpoint N stores (e.g. file lengths).
   */
  prepare?(checkpointId: number): Promise<unknown>;
  /** Checkpoint N is committed: make its prepared output visible. Idempotent. */
  commit?(checkpointId: number, state: unknown): Promise<void>;
  /**
   * Before the first write (at start, at recovery, after an in-job rollback): finish the commit of
   * the last committed checkpoint if it was interrupted, and drop all output it does not cover
   * (undefined: no checkpoint yet, drop every uncommitted write).
   */
  recover?(committed: CommittedSinkState | undefined): Promise<void>;
}

/** A batch's records as feed items: the packed ones first. */
function feedItems(batch: SourceBatch<unknown>): unknown[] {
  const records: unknown[] = batch.records;
  return batch.packed && batch.packed.length > 0 ? [...batch.packed, ...records] : records;
}

export function isSourceConnector(value: unknown): value is SourceConnector {
  return typeof value === 'object' && value !== null && (value as SourceConnector).connector === 'source';
}

export function isSinkConnector(value: unknown): value is SinkConnector {
  return typeof value === 'object' && value !== null && (value as SinkConnector).connector === 'sink';
}

/** What the adapter needs from a started job. */
export interface JobHooks {
  barrier(epoch: number): Promise<void>;
  /** The job's own failure path: onError (a handler that throws is contained, as HandlerError), else kept and counted. */
  report(failure: OperatorFailure): void;
  /** Checkpoints are on: acks at commits, seek before batches, sinks recovered after open. */
  checkpoints?: {
    resume(source: string): unknown;
    committedSink(sink: string): CommittedSinkState | undefined;
  };
}

/** The connectors of one environment, and the job they serve while it runs. */
class EnvConnectors {
  readonly sources: SourceConnector[] = [];
  readonly sinks: SinkConnector[] = [];
  private epoch = 0;
  private hooks!: JobHooks;
  private bound!: () => void;
  private ready = new Promise<void>((resolve) => (this.bound = resolve));
  /** Acks in feed order: a batch is acked after the one before it. */
  private acks: Promise<void> = Promise.resolve();
  private ackError: Error | undefined;
  private opened: Promise<void> = Promise.resolve();
  /** Settles when the job has ended: a batch whose barrier never went out (stopped mid-batch) is not acked. */
  private finish!: () => void;
  private readonly finished = new Promise<void>((resolve) => (this.finish = resolve));
  /** Checkpoints: the iteration of the current attempt (ended before a rolled-back attempt starts anew). */
  private active: AsyncIterator<SourceBatch<unknown>> | undefined;
  private iterations = 0;

  feed(source: SourceConnector): AsyncIterable<unknown[]> {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        await self.ready;
        const context: SourceContext = { report: (failure) => self.hooks.report(failure) };
        await self.opened;
        if (self.hooks.checkpoints) {
          yield* self.checkpointedFeed(source, context);
          return;
        }
        for await (const batch of source.batches(context)) {
          const epoch = ++self.epoch;
          const reached = self.hooks.barrier(epoch); // registered before the barrier is sent
          let passed = false;
          void reached.then(() => (passed = true));
          self.acks = self.acks.then(async () => {
            await Promise.race([reached, self.finished]);
            if (!passed || self.ackError) return;
            try {
              await Promise.all(self.sinks.map((s) => s.flush()));
              await source.ack(batch.token);
            } catch (error) {
              self.failAcks(error);
            }
          });
          const items = feedItems(batch);
          items.push(new FeedBarrier(epoch));
          yield items;
        }
      },
    };
  }

  /** A feed whose acks go at checkpoint commits, resuming from the committed position. */
  private async *checkpointedFeed(source: SourceConnector, context: SourceContext): AsyncGenerator<unknown[]> {
    const previous = this.active;
    this.active = undefined;
    if (previous) await previous.return?.().catch(() => undefined);
    const at = this.hooks.checkpoints!.resume(source.name);
    // After a rollback the source goes back even when nothing was committed: seek(undefined) is its start.
    if ((at !== undefined || this.iterations > 0) && source.replayable && source.seek) await source.seek(at);
    this.iterations++;
    const iterator = source.batches(context)[Symbol.asyncIterator]();
    this.active = iterator;
    const tokens: { seq: number; token: unknown }[] = [];
    let seq = 0;
    const ackUpTo = (upTo: number) => {
      const due: unknown[] = [];
      while (tokens.length > 0 && tokens[0]!.seq <= upTo) due.push(tokens.shift()!.token);
      if (due.length === 0) return;
      this.acks = this.acks.then(async () => {
        if (this.ackError) return;
        try {
          await Promise.all(this.sinks.map((s) => s.flush()));
          for (const token of due) await source.ack(token);
        } catch (error) {
          this.failAcks(error);
        }
      });
    };
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        const batch = next.value;
        const mine = ++seq;
        tokens.push({ seq: mine, token: batch.token });
        const items = feedItems(batch);
        items.push(new FeedPosition(batch.position, () => ackUpTo(mine)));
        yield items;
      }
    } finally {
      if (this.active === iterator) this.active = undefined;
      await iterator.return?.()?.catch?.(() => undefined);
    }
  }

  /**
   * A sink could not take what a batch derived (or a source could not ack it): nothing after it is
   * acked, and the sources stop, so the job ends with this error now rather than when (if ever) the
   * input runs out. A sink whose publish failed after its last write would otherwise go unnoticed.
   */
  private failAcks(error: unknown): void {
    if (this.ackError) return;
    this.ackError = error as Error;
    for (const source of this.sources) source.stop();
  }

  /** Binds the job; returns its `done` that also waits for the connectors to close. */
  run<R>(hooks: JobHooks, job: Promise<R>): Promise<R> {
    this.hooks = hooks;
    const checkpoints = hooks.checkpoints;
    this.opened = Promise.all(this.sinks.map((s) => s.open())).then(async () => {
      if (checkpoints) for (const s of this.sinks) if (s.recover) await s.recover(checkpoints.committedSink(s.name));
    });
    this.opened.catch(() => undefined); // a sink's first write (or close) reports it
    this.bound();
    const done = job.finally(() => this.finish());
    return done.then(
      async (result) => {
        await this.acks;
        await this.closeAll(this.ackError);
        if (this.ackError) throw this.ackError;
        return result;
      },
      async (error: Error) => {
        await this.closeAll(error);
        throw error;
      },
    );
  }

  /** The sink's write (or writeText), after the sinks have opened (an open failure fails the first write). */
  writer<A extends unknown[]>(write: (...args: A) => unknown): (...args: A) => unknown {
    let open = false;
    return (...args) => {
      if (open) return write(...args);
      return this.opened.then(() => {
        open = true;
        return write(...args);
      });
    };
  }

  private async closeAll(error: Error | undefined): Promise<void> {
    const results = await Promise.allSettled([...this.sinks.map((s) => s.close(error)), ...this.sources.map((s) => s.close(error))]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed && !error) throw failed.reason;
  }
}

const byOwner = new WeakMap<object, EnvConnectors>();

function connectorsOf(owner: object): EnvConnectors {
  let c = byOwner.get(owner);
  if (!c) byOwner.set(owner, (c = new EnvConnectors()));
  return c;
}

/** env.from: the feed a source connector becomes (one per environment: its barriers must reach every sink). */
export function sourceFeed(owner: object, source: unknown): AsyncIterable<unknown[]> {
  if (!isSourceConnector(source)) throw new InvalidArgumentError('from() needs a source connector, such as fromJetStream({ … })');
  const c = connectorsOf(owner);
  if (c.sources.length > 0) throw new InvalidArgumentError('an environment takes one source connector (its acks follow barriers through every sink)');
  c.sources.push(source);
  return c.feed(source);
}

/** What stream.to makes of a sink connector: its write callback, and for a text sink its encoder and text writer. */
export interface SinkWriter {
  write: (record: unknown) => unknown;
  text?: { encode: (record: unknown) => string; write: (utf8: Uint8Array, records: number) => unknown };
}

/** stream.to: the callbacks a sink connector becomes. */
export function sinkWriter(owner: object, sink: unknown): SinkWriter {
  if (!isSinkConnector(sink)) throw new InvalidArgumentError('to() needs a sink connector, such as toJetStream({ … })');
  const c = connectorsOf(owner);
  c.sinks.push(sink);
  const write = c.writer((record: unknown) => sink.write(record));
  if (typeof sink.encodeText !== 'function' || typeof sink.writeText !== 'function') return { write };
  return { write, text: { encode: sink.encodeText, write: c.writer((utf8: Uint8Array, records: number) => sink.writeText!(utf8, records)) } };
}

/** The environment's connectors (none: empty lists). */
export function environmentConnectors(owner: object): { sources: readonly SourceConnector[]; sinks: readonly SinkConnector[] } {
  const c = byOwner.get(owner);
  return { sources: c?.sources ?? [], sinks: c?.sinks ?? [] };
}

/** A sink connector with all three of prepare, commit and recover. */
export function isTransactionalSink(sink: SinkConnector): sink is SinkConnector & Required<Pick<SinkConnector, 'prepare' | 'commit' | 'recover'>> {
  return typeof sink.prepare === 'function' && typeof sink.commit === 'function' && typeof sink.recover === 'function';
}

/** env.start: binds the environment's connectors (if any) to the job; `done` also waits for them to close, `stop` stops the sources. */
export function runConnectors<R>(owner: object, hooks: JobHooks, job: Promise<R>): { done: Promise<R>; stop(): void } {
  const c = byOwner.get(owner);
  if (!c) return { done: job, stop: () => {} };
  return { done: c.run(hooks, job), stop: () => c.sources.forEach((s) => s.stop()) };
}
