// Connectors for the state runtime tests: a replayable source over an array and a transactional
// sink that behaves as an append-only file with a committed length (what toFile does on disk).
import type { CommittedSinkState, SinkConnector, SourceBatch, SourceConnector } from '../../src/stream/index.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Batches of `batchSize` items; its position is the index after the batch; `seek` moves to it. */
export class ArraySource<T> implements SourceConnector<T> {
  readonly connector = 'source' as const;
  readonly replayable = true;
  readonly seeks: unknown[] = [];
  readonly acked: number[] = [];
  batchesCalls = 0;
  private at = 0;
  private stopped = false;

  constructor(
    readonly name: string,
    private readonly items: readonly T[],
    private readonly options: { batchSize?: number; delayMs?: number; startDelayMs?: number; endless?: boolean } = {},
  ) {}

  async *batches(): AsyncIterable<SourceBatch<T>> {
    this.batchesCalls++;
    const size = this.options.batchSize ?? 100;
    if (this.options.startDelayMs) await sleep(this.options.startDelayMs);
    for (;;) {
      if (this.stopped) return;
      if (this.at >= this.items.length) {
        if (!this.options.endless) return;
        await sleep(5);
        continue;
      }
      if (this.options.delayMs) await sleep(this.options.delayMs);
      const records = this.items.slice(this.at, this.at + size);
      this.at += records.length;
      yield { records, token: this.at, position: this.at };
    }
  }

  ack(token: unknown): void {
    this.acked.push(token as number);
  }

  stop(): void {
    this.stopped = true;
  }

  async close(): Promise<void> {}

  seek(position: unknown): void {
    this.seeks.push(position);
    this.at = position === undefined ? 0 : (position as number);
  }
}

/** Everything written goes to `written` (the file); `prepare` gives its length, `commit` makes that visible, `recover` truncates. */
export class LedgerSink<T> implements SinkConnector<T> {
  readonly connector = 'sink' as const;
  readonly written: T[] = [];
  visible = 0;
  readonly recovered: (CommittedSinkState | undefined)[] = [];

  constructor(readonly name = 'ledger') {}

  async open(): Promise<void> {}
  write(record: T): void {
    this.written.push(record);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}

  async prepare(_checkpointId: number): Promise<unknown> {
    return { length: this.written.length };
  }

  async commit(_checkpointId: number, state: unknown): Promise<void> {
    this.visible = (state as { length: number }).length;
  }

  async recover(committed: CommittedSinkState | undefined): Promise<void> {
    this.recovered.push(committed);
    const length = committed ? (committed.state as { length: number }).length : 0;
    this.written.length = length;
    this.visible = length;
  }

  /** What a reader of the file sees: the committed records. */
  get output(): T[] {
    return this.written.slice(0, this.visible);
  }
}
