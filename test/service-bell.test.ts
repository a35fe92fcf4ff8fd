import { describe, expect, it } from 'vitest';
import { bellAt, createBell } from '../src/service/protocol.js';
import { parkOnce, parkOnceAsync, wake, wakeAll } from '../src/sync/index.js';

describe('service doorbells (sync parking spots, parked once)', () => {
  it('does not park when the condition already holds', () => {
    const bell = bellAt(new Int32Array(createBell()), 0);
    const started = performance.now();
    expect(parkOnce(() => true, bell, 10_000)).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(bell.words[bell.waitersIndex]).toBe(0);
  });

  it('ends one park at a wake, even one that does not make the condition true, and counts the waiter out', async () => {
    const bell = bellAt(new Int32Array(createBell()), 0);
    const parked = parkOnceAsync(() => false, bell, 10_000);
    expect(bell.words[bell.waitersIndex]).toBe(1);
    wake(bell);
    expect(bell.words[bell.pendingIndex!]).toBe(1); // later wakes skip the notify until it parks again
    wake(bell);
    expect(await parked).toBe(false);
    expect(bell.words[bell.waitersIndex]).toBe(0);
    const again = parkOnceAsync(() => false, bell, 10_000);
    expect(bell.words[bell.pendingIndex!]).toBe(0); // taken back by the new park
    wakeAll(bell);
    expect(await again).toBe(false);
  });

  it('returns at its timeout with the condition still false', () => {
    const bell = bellAt(new Int32Array(createBell()), 0);
    const started = performance.now();
    expect(parkOnce(() => false, bell, 20)).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
  });
});
