import type { DirectFeed, SharedVectorBatch } from '../stream/index.js';

/**
 * An async iterable of batches that a producer fills with `push` and ends with `close`: the feed
 * source of a SageFlowService pipeline. Each batch is handed over whole, so the pipeline's source
 * pays one await per batch, not per record.
 */
export class FeedQueue<T> implements AsyncIterable<T[]>, DirectFeed {
  private readonly batches: T[][] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private sender: ((batch: SharedVectorBatch) => boolean) | undefined;

  attachSender(send: (batch: SharedVectorBatch) => boolean): void {
    this.sender = send;
  }

  /** Puts an arena batch into the pipeline now, ahead of nothing queued here; false when it cannot go at once. */
  sendNow(batch: SharedVectorBatch): boolean {
    return !this.closed && this.batches.length === 0 && this.sender !== undefined && this.sender(batch);
  }

  push(batch: T[]): void {
    if (this.closed) throw new Error('internal: push after close');
    if (batch.length === 0) return;
    this.batches.push(batch);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T[]> {
    for (;;) {
      const batch = this.batches.shift();
      if (batch !== undefined) {
        yield batch;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
