import { describe, expect, it } from 'vitest';
import { BlockingOnMainThreadError, InvalidArgumentError } from '../src/errors.js';
import { Latch, NegativeCounterError, WaitGroup } from '../src/sync/index.js';
import { startFixture, ticksOfInterval } from './helpers/sync-harness.js';

const WORKERS = 4;

/** Starts WORKERS workers that each write a result and then signal `signal`. */
function startFinishers(kind: 'waitGroup' | 'latch', signal: WaitGroup | Latch, results: SharedArrayBuffer) {
  return Array.from({ length: WORKERS }, (_, index) =>
    startFixture('sync-finish-work.ts', { kind, signal: signal.handle, results, index }),
  );
}

describe('WaitGroup', () => {
  it('lets the main thread await N workers', async () => {
    const group = WaitGroup.create();
    group.add(WORKERS);
    const results = new SharedArrayBuffer(WORKERS * 4);
    const workers = startFinishers('waitGroup', group, results);
    await group.waitAsync(); // no deadline: a missed wake-up fails by the test's own timeout
    expect(group.count).toBe(0);
    expect(Array.from(new Int32Array(results))).toEqual([10, 20, 30, 40]);
    await Promise.all(workers.map((w) => w.exited));
  }, 15_000);

  it('releases a waiter on a return to zero even if work is added again at once', async () => {
    const group = WaitGroup.create();
    group.add(1);
    const waited = group.waitAsync(5_000);
    const ticker = ticksOfInterval(2);
    await ticker.done; // the waiter is parked by now
    ticker.stop();
    group.done();
    group.add(1);
    await expect(waited).resolves.toBeUndefined();
    expect(group.count).toBe(1);
  }, 5_000);

  it('is ready at once when empty, and refuses to go negative', async () => {
    const group = WaitGroup.create();
    await group.waitAsync(0);
    expect(() => group.done()).toThrow(NegativeCounterError);
    group.add(2);
    expect(() => group.add(-3)).toThrow(expect.objectContaining({ code: 'ERR_NEGATIVE_COUNTER' }));
    expect(group.count).toBe(2); // a refused add changes nothing
    for (const bad of [1.5, Number.NaN, 2 ** 31, '1']) expect(() => group.add(bad as number)).toThrow(InvalidArgumentError);
    expect(() => group.wait()).toThrow(BlockingOnMainThreadError);
  }, 1_000);
});

describe('Latch', () => {
  it('lets the main thread await N workers counting down', async () => {
    const latch = Latch.create(WORKERS);
    const results = new SharedArrayBuffer(WORKERS * 4);
    const workers = startFinishers('latch', latch, results);
    await latch.waitAsync(); // no deadline: a missed wake-up fails by the test's own timeout
    expect(latch.open).toBe(true);
    expect(Array.from(new Int32Array(results))).toEqual([10, 20, 30, 40]);
    await Promise.all(workers.map((w) => w.exited));
  }, 15_000);

  it('works as a one-shot event and stays open', async () => {
    const event = Latch.create();
    expect(event.count).toBe(1);
    const gate = Latch.create(1);
    const signaller = startFixture('sync-act-later.ts', { action: 'countDown', target: event.handle, gate: gate.handle });
    expect(await signaller.nextMessage()).toBe('holding');
    const opened = event.waitAsync();
    gate.countDown();
    await opened;
    event.countDown(); // extra countDowns do nothing
    expect(event.count).toBe(0);
    await event.waitAsync(0);
    await signaller.exited;
  }, 10_000);

  it('arms a placed latch once, rejects bad counts and blocking on the main thread', () => {
    const buffer = new SharedArrayBuffer(Latch.BYTES);
    expect(Latch.from(buffer).open).toBe(true); // zeroed memory: open
    expect(Latch.from(buffer, 0, 3).count).toBe(3);
    expect(Latch.attach(Latch.from(buffer).handle).count).toBe(3);
    for (const bad of [-1, 0.5, Number.NaN]) expect(() => Latch.create(bad)).toThrow(InvalidArgumentError);
    expect(() => Latch.create().wait(1)).toThrow(BlockingOnMainThreadError);
  }, 1_000);
});
