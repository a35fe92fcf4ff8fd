import { describe, expect, it } from 'vitest';
import { BlockingOnMainThreadError } from '../src/errors.js';
import { Latch, Mutex, NotLockedError } from '../src/sync/index.js';
import { runFixture, startFixture, ticksOfInterval } from './helpers/sync-harness.js';

describe('Mutex', () => {
  it('keeps 4 workers x 100 000 plain increments exact', async () => {
    const workers = 4;
    const iterations = 100_000;
    const mutex = Mutex.create();
    const start = Latch.create(workers);
    const counter = new SharedArrayBuffer(4);
    await Promise.all(
      Array.from({ length: workers }, () =>
        runFixture('sync-mutex-counter.ts', { mutex: mutex.handle, start: start.handle, counter, iterations }),
      ),
    );
    expect(new Int32Array(counter)[0]).toBe(workers * iterations);
    // Left clean: unlocked, and no waiter still counted (every park was matched by an unpark).
    expect(Array.from(new Int32Array(mutex.handle.buffer))).toEqual([0, 0]);
  }, 20_000);

  it('tryLock takes a free lock only, and unlock of an unlocked mutex throws ERR_NOT_LOCKED', () => {
    const mutex = Mutex.create();
    expect(mutex.tryLock()).toBe(true);
    expect(mutex.locked).toBe(true);
    expect(mutex.tryLock()).toBe(false);
    mutex.unlock();
    expect(mutex.locked).toBe(false);
    expect(() => mutex.unlock()).toThrow(NotLockedError);
    expect(() => mutex.unlock()).toThrow(expect.objectContaining({ code: 'ERR_NOT_LOCKED' }));
  }, 1_000);

  it('refuses to block the main thread', () => {
    const mutex = Mutex.create();
    expect(() => mutex.lock()).toThrow(BlockingOnMainThreadError);
    expect(() => mutex.lock(10)).toThrow(expect.objectContaining({ code: 'ERR_BLOCKING_ON_MAIN_THREAD' }));
    expect(mutex.locked).toBe(false);
  }, 1_000);

  it('lockAsync leaves the event loop free and wakes when a worker unlocks', async () => {
    const mutex = Mutex.create();
    const gate = Latch.create(1);
    const holder = startFixture('sync-act-later.ts', { action: 'unlock', target: mutex.handle, gate: gate.handle });
    expect(await holder.nextMessage()).toBe('holding');

    let releasedByWorker = false;
    const locked = mutex.lockAsync(10_000).then(() => releasedByWorker);
    const ticker = ticksOfInterval(5);
    await ticker.done; // the main thread keeps running timers while lockAsync is parked
    ticker.stop();
    let immediateRan = false;
    await new Promise<void>((resolve) => setImmediate(() => ((immediateRan = true), resolve())));

    releasedByWorker = true;
    gate.countDown();
    expect(await locked).toBe(true); // resolved only after the worker let go
    expect(immediateRan).toBe(true);
    expect(mutex.locked).toBe(true);
    mutex.unlock();
    await holder.exited;
  }, 10_000);

  it('places several mutexes side by side in a caller buffer and attaches them by handle', () => {
    const buffer = new SharedArrayBuffer(Mutex.BYTES * 2);
    const first = Mutex.from(buffer, 0);
    const second = Mutex.from(buffer, Mutex.BYTES);
    expect(first.tryLock()).toBe(true);
    expect(second.tryLock()).toBe(true);
    expect(Mutex.attach(structuredClone(second.handle)).tryLock()).toBe(false);
    second.unlock();
    expect(Mutex.attach(second.handle).tryLock()).toBe(true);
    expect(first.locked).toBe(true);
  }, 1_000);
});
