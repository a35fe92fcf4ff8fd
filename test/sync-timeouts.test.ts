import { describe, expect, it } from 'vitest';
import { Condition, Latch, Mutex, Semaphore, WaitGroup } from '../src/sync/index.js';
import { runFixture } from './helpers/sync-harness.js';
import type { TimeoutReport } from './fixtures/sync-timeouts.js';

const TIMEOUT_MS = 50;
// Never early; late by at most a generous margin, for a busy 2-core machine.
const EARLIEST_MS = 45;
const LATEST_MS = 300;

async function timeAsync(wait: () => Promise<void>): Promise<TimeoutReport> {
  const start = performance.now();
  try {
    await wait();
    return { elapsedMs: performance.now() - start, code: undefined };
  } catch (error) {
    return { elapsedMs: performance.now() - start, code: (error as { code?: string }).code };
  }
}

function expectTimedOut(reports: Record<string, TimeoutReport>): void {
  for (const [what, { elapsedMs, code }] of Object.entries(reports)) {
    expect({ what, code }).toEqual({ what, code: 'ERR_TIMEOUT' });
    expect(elapsedMs, what).toBeGreaterThanOrEqual(EARLIEST_MS);
    expect(elapsedMs, what).toBeLessThanOrEqual(LATEST_MS);
  }
}

describe('timeouts', () => {
  it(`blocking waits in a worker throw TimeoutError after ~${TIMEOUT_MS} ms`, async () => {
    const held = Mutex.create();
    held.tryLock(); // the main thread holds it, so the worker's lock must time out
    const { reports, mutexHeldAfterConditionTimeout } = await runFixture<{
      reports: Record<string, TimeoutReport>;
      mutexHeldAfterConditionTimeout: boolean;
    }>('sync-timeouts.ts', { heldMutex: held.handle, timeoutMs: TIMEOUT_MS });
    expect(Object.keys(reports)).toHaveLength(5);
    expectTimedOut(reports);
    expect(mutexHeldAfterConditionTimeout).toBe(true);
  }, 10_000);

  it(`async waits on the main thread reject with TimeoutError after ~${TIMEOUT_MS} ms`, async () => {
    const held = Mutex.create();
    held.tryLock();
    const conditionMutex = Mutex.create();
    const group = WaitGroup.create();
    group.add(1);
    // One after another, so each measurement has the event loop to itself.
    const reports: Record<string, TimeoutReport> = {
      'Mutex.lockAsync': await timeAsync(() => held.lockAsync(TIMEOUT_MS)),
      'Semaphore.acquireAsync': await timeAsync(() => Semaphore.create(0).acquireAsync(TIMEOUT_MS)),
      'Condition.waitAsync': await timeAsync(async () => {
        await conditionMutex.lockAsync();
        await Condition.create().waitAsync(conditionMutex, TIMEOUT_MS);
      }),
      'WaitGroup.waitAsync': await timeAsync(() => group.waitAsync(TIMEOUT_MS)),
      'Latch.waitAsync': await timeAsync(() => Latch.create(1).waitAsync(TIMEOUT_MS)),
    };
    expectTimedOut(reports);
    expect(conditionMutex.locked).toBe(true);
  }, 10_000);

  it('a zero timeout is one try: it succeeds when free and times out at once when not', async () => {
    const mutex = Mutex.create();
    await mutex.lockAsync(0);
    await expect(mutex.lockAsync(0)).rejects.toMatchObject({ name: 'TimeoutError', code: 'ERR_TIMEOUT' });
  }, 1_000);
});
