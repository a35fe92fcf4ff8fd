import { describe, expect, it } from 'vitest';
import { BlockingOnMainThreadError, InvalidArgumentError } from '../src/errors.js';
import { Condition, Latch, Mutex } from '../src/sync/index.js';
import { startFixture, ticksOfInterval } from './helpers/sync-harness.js';
import { QUEUE, queueBytes, queueParts } from './fixtures/sync-queue-layout.js';

describe('Condition', () => {
  it('passes every item of a bounded producer/consumer queue exactly once', async () => {
    const capacity = 8;
    const producers = 2;
    const consumers = 2;
    const perProducer = 5_000;
    const total = producers * perProducer;
    const buffer = new SharedArrayBuffer(queueBytes(capacity));
    const seen = new SharedArrayBuffer(total * 4);
    const common = { buffer, capacity, total, seen };

    const workers = [
      ...Array.from({ length: producers }, (_, p) =>
        startFixture('sync-condition-queue.ts', { ...common, role: 'producer', first: p * perProducer, count: perProducer }),
      ),
      ...Array.from({ length: consumers }, () => startFixture('sync-condition-queue.ts', { ...common, role: 'consumer' })),
    ];
    const counts = await Promise.all(workers.map((w) => w.nextMessage<number>()));
    await Promise.all(workers.map((w) => w.exited));

    const consumed = counts.slice(producers).reduce((a, b) => a + b, 0);
    expect(consumed).toBe(total);
    const timesSeen = new Int32Array(seen);
    expect(timesSeen.every((n) => n === 1)).toBe(true);
    const { queue, mutex } = queueParts(buffer, capacity);
    expect(queue[QUEUE.size]).toBe(0);
    expect(queue[QUEUE.taken]).toBe(total);
    expect(mutex.locked).toBe(false);
  }, 20_000);

  it('waitAsync releases the mutex, keeps the loop free, and returns holding it after a worker notifies', async () => {
    const mutex = Mutex.create();
    const condition = Condition.create();
    const gate = Latch.create(1);
    const flag = new SharedArrayBuffer(4);
    const notifier = startFixture('sync-act-later.ts', {
      action: 'notify',
      target: condition.handle,
      mutex: mutex.handle,
      gate: gate.handle,
      flag,
    });
    expect(await notifier.nextMessage()).toBe('holding');

    await mutex.lockAsync(1_000);
    const ready = new Int32Array(flag);
    const waited = (async () => {
      while (ready[0] === 0) await condition.waitAsync(mutex, 10_000);
      return mutex.locked;
    })();
    expect(mutex.locked).toBe(false); // waitAsync gave the mutex up while it waits
    const ticker = ticksOfInterval(5);
    await ticker.done;
    ticker.stop();
    gate.countDown();
    expect(await waited).toBe(true);
    expect(ready[0]).toBe(1);
    mutex.unlock();
    await notifier.exited;
  }, 10_000);

  it('a notify with no waiter is not remembered', async () => {
    const mutex = Mutex.create();
    const condition = Condition.create();
    condition.notifyOne();
    condition.notifyAll();
    await mutex.lockAsync();
    await expect(condition.waitAsync(mutex, 20)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(mutex.locked).toBe(true); // held again after the timeout
    mutex.unlock();
  }, 2_000);

  it('refuses to block the main thread, without touching the mutex', () => {
    const mutex = Mutex.create();
    mutex.tryLock();
    expect(() => Condition.create().wait(mutex)).toThrow(BlockingOnMainThreadError);
    expect(mutex.locked).toBe(true);
  }, 1_000);

  it('rejects a missing mutex or an unlocked one', async () => {
    const condition = Condition.create();
    await expect(condition.waitAsync(undefined as unknown as Mutex)).rejects.toThrow(InvalidArgumentError);
    await expect(condition.waitAsync(Mutex.create(), 10)).rejects.toMatchObject({ code: 'ERR_NOT_LOCKED' });
  }, 1_000);
});
