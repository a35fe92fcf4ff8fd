import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, RingflowError } from '../src/errors.js';
import { Condition, Latch, Mutex, NegativeCounterError, NotLockedError, Semaphore, WaitGroup } from '../src/sync/index.js';
import { runFixture } from './helpers/sync-harness.js';

const placements = [
  ['Mutex', (buffer: unknown, offset?: number) => Mutex.from(buffer as SharedArrayBuffer, offset), Mutex.BYTES],
  ['Semaphore', (buffer: unknown, offset?: number) => Semaphore.from(buffer as SharedArrayBuffer, offset), Semaphore.BYTES],
  ['Condition', (buffer: unknown, offset?: number) => Condition.from(buffer as SharedArrayBuffer, offset), Condition.BYTES],
  ['WaitGroup', (buffer: unknown, offset?: number) => WaitGroup.from(buffer as SharedArrayBuffer, offset), WaitGroup.BYTES],
  ['Latch', (buffer: unknown, offset?: number) => Latch.from(buffer as SharedArrayBuffer, offset), Latch.BYTES],
] as const;

describe('bad input', () => {
  it.each(placements)('%s.from checks the buffer, the alignment and the room', (_, from, bytes) => {
    const buffer = new SharedArrayBuffer(64);
    expect(() => from(new ArrayBuffer(64), 0)).toThrow(InvalidArgumentError);
    expect(() => from(buffer, 2)).toThrow(/multiple of 4/);
    expect(() => from(buffer, -4)).toThrow(InvalidArgumentError);
    expect(() => from(buffer, 64 - bytes + 4)).toThrow(/needs \d+ bytes/);
    expect(() => from(buffer, 64 - bytes)).not.toThrow();
  }, 1_000);

  it('attach checks the handle', () => {
    expect(() => Mutex.attach(null as never)).toThrow(InvalidArgumentError);
    expect(() => Semaphore.attach({ buffer: new SharedArrayBuffer(8), byteOffset: 1 })).toThrow(InvalidArgumentError);
  }, 1_000);

  it('async waits reject bad timeouts', async () => {
    const mutex = Mutex.create();
    for (const bad of [-1, Number.NaN, '10']) {
      await expect(mutex.lockAsync(bad as number)).rejects.toThrow(InvalidArgumentError);
    }
    expect(mutex.locked).toBe(false);
  }, 1_000);

  it('blocking waits in a worker reject bad timeouts and a bad mutex, leaving the lock as it was', async () => {
    const codes = await runFixture<Record<string, string | boolean | undefined>>('sync-worker-errors.ts');
    expect(codes).toEqual({
      negativeTimeout: 'ERR_INVALID_ARGUMENT',
      nanTimeout: 'ERR_INVALID_ARGUMENT',
      conditionWithoutMutex: 'ERR_INVALID_ARGUMENT',
      conditionWithUnlockedMutex: 'ERR_NOT_LOCKED',
      mutexStillLocked: true,
    });
  }, 10_000);

  it('sync errors are RingflowErrors with stable codes', () => {
    expect(new NotLockedError()).toBeInstanceOf(RingflowError);
    expect(new NotLockedError().code).toBe('ERR_NOT_LOCKED');
    expect(new NegativeCounterError().code).toBe('ERR_NEGATIVE_COUNTER');
    expect(new NotLockedError().name).toBe('NotLockedError');
  }, 1_000);
});
