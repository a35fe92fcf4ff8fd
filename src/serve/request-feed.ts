import type { Envelope } from './envelope.js';

/**
 * The serving pipeline's source: requests' first records, handed to the source driver in
 * batches (all that arrived since it last took some). What waits here has not reached the input
 * ring yet; `queued` is how the server sees the pipeline pushing back.
 */
export class RequestFeed implements AsyncIterable<Envelope[]> {
  private queue: Envelope[] = [];
  private wakeSource: (() => void) | undefined;
  private roomWaiters: (() => void)[] = [];
  private ended = false;

  get queued(): number {
    return this.queue.length;
  }

  push(record: Envelope): void {
    this.queue.push(record);
    const wake = this.wakeSource;
    if (wake !== undefined) {
      this.wakeSource = undefined;
      wake();
    }
  }

  /** Resolves when the source next takes a batch (there is room again), or after `ms`, with false. */
  waitForRoom(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.roomWaiters = this.roomWaiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.roomWaiters.push(done);
    });
  }

  /** No more requests: the source ends once it has taken what is queued. */
  end(): void {
    this.ended = true;
    this.wakeSource?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Envelope[]> {
    for (;;) {
      if (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        const waiters = this.roomWaiters;
        this.roomWaiters = [];
        for (const w of waiters) w();
        yield batch;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wakeSource = resolve));
    }
  }
}
