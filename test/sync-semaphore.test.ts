import { describe, expect, it } from 'vitest';
import { BlockingOnMainThreadError, InvalidArgumentError } from '../src/errors.js';
import { Latch, Semaphore } from '../src/sync/index.js';
import { runFixture, startFixture, ticksOfInterval } from './helpers/sync-harness.js';

describe('Semaphore', () => {
  it('never has more than n holders among 4 contending workers', async () => {
    const permits = 2;
    const workers = 4;
    const semaphore = Semaphore.create(permits);
    const start = Latch.create(workers);
    const stats = new SharedArrayBuffer(8); // Int32 [holders now, most holders seen]
    await Promise.all(
      Array.from({ length: workers }, () =>
        runFixture('sync-semaphore-holders.ts', { semaphore: semaphore.handle, start: start.handle, stats, rounds: 1_000 }),
      ),
    );
    const [holdersNow, mostSeen] = new Int32Array(stats);
    expect(holdersNow).toBe(0);
    expect(mostSeen).toBe(permits); // never more, and the permits really were shared
    expect(semaphore.available).toBe(permits);
  }, 20_000);

  it('counts permits with tryAcquire and release(n)', () => {
    const semaphore = Semaphore.create(2);
    expect(semaphore.tryAcquire()).toBe(true);
    expect(semaphore.tryAcquire()).toBe(true);
    expect(semaphore.tryAcquire()).toBe(false);
    semaphore.release(3);
    expect(semaphore.available).toBe(3);
  }, 1_000);

  it('sets permits once with from(buffer, offset, initialCount); a plain from only attaches', () => {
    const buffer = new SharedArrayBuffer(16);
    const placed = Semaphore.from(buffer, 8, 5);
    expect(placed.available).toBe(5);
    expect(Semaphore.from(buffer, 8).available).toBe(5);
    expect(Semaphore.attach(placed.handle).tryAcquire()).toBe(true);
    expect(placed.available).toBe(4);
  }, 1_000);

  it('refuses to block the main thread', () => {
    expect(() => Semaphore.create(1).acquire()).toThrow(BlockingOnMainThreadError);
  }, 1_000);

  it('acquireAsync leaves the event loop free and wakes when a worker releases', async () => {
    const semaphore = Semaphore.create(0);
    const gate = Latch.create(1);
    const releaser = startFixture('sync-act-later.ts', { action: 'release', target: semaphore.handle, gate: gate.handle });
    expect(await releaser.nextMessage()).toBe('holding');

    let released = false;
    const acquired = semaphore.acquireAsync(10_000).then(() => released);
    const ticker = ticksOfInterval(5);
    await ticker.done;
    ticker.stop();
    released = true;
    gate.countDown();
    expect(await acquired).toBe(true);
    expect(semaphore.available).toBe(0);
    await releaser.exited;
  }, 10_000);

  it('rejects bad counts with ERR_INVALID_ARGUMENT', () => {
    for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 31, '3']) {
      expect(() => Semaphore.create(bad as number)).toThrow(InvalidArgumentError);
    }
    const semaphore = Semaphore.create(2 ** 31 - 2);
    for (const bad of [0, -1, 0.5]) expect(() => semaphore.release(bad)).toThrow(InvalidArgumentError);
    expect(() => semaphore.release(2)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(semaphore.available).toBe(2 ** 31 - 2); // a refused release changes nothing
  }, 1_000);
});
