import { describe, expect, it, vi } from 'vitest';
import { RequestRegistry, type Outcome } from '../src/serve/requests.js';
import { SlotTable } from '../src/serve/slot-table.js';

const options = { requestTimeoutMs: 60_000, idRetentionMs: 60_000, maxRetainedIds: 100, resultTtlMs: 60_000, maxStoredResults: 100 };

describe('RequestRegistry: a request that ends lets go of what answers it', () => {
  it('calls onEnd and the listeners once, then drops them (the deadline queue still holds the request)', () => {
    const registry = new RequestRegistry(SlotTable.create(16), options);
    try {
      const request = registry.open('a', false)!;
      const ends: Outcome[] = [];
      const streamed: Outcome[] = [];
      request.onEnd = (outcome) => ends.push(outcome);
      request.listeners = [{ result: () => {}, end: (outcome) => streamed.push(outcome) }];
      registry.deliver({ o: request.origin, v: 42 });
      expect(ends).toEqual([{ ok: true, results: [42] }]);
      expect(streamed).toHaveLength(1);
      // A reply (and through it the socket's buffers) must not live on with the ended request.
      expect(request.onEnd).toBeUndefined();
      expect(request.listeners).toBeUndefined();
      registry.end(request, { ok: true, results: [] });
      expect(ends).toHaveLength(1);
      expect(() => registry.checkNew('a')).toThrow(expect.objectContaining({ code: 'ERR_DUPLICATE_ID' }));
    } finally {
      registry.stop();
    }
  }, 10_000);
});

describe('RequestRegistry: an id is taken while either of its windows lasts', () => {
  it('an expired sync entry, not yet swept, does not hide a live async one of the same id', () => {
    const registry = new RequestRegistry(SlotTable.create(16), { ...options, idRetentionMs: 1000, resultTtlMs: 60_000 });
    const clock = vi.spyOn(Date, 'now');
    try {
      clock.mockReturnValue(1_000_000);
      registry.end(registry.open('x', false)!, { ok: true, results: [] });
      clock.mockReturnValue(1_002_000); // the sync window is over; the sweeper has not run
      registry.checkNew('x');
      registry.end(registry.open('x', true)!, { ok: true, results: [1] });
      clock.mockReturnValue(1_002_010);
      expect(() => registry.checkNew('x')).toThrow(expect.objectContaining({ code: 'ERR_DUPLICATE_ID' }));
      // Once the id's own window is over, the kept results still hold it.
      clock.mockReturnValue(1_004_000);
      expect(() => registry.checkNew('x')).toThrow(expect.objectContaining({ code: 'ERR_DUPLICATE_ID' }));
      clock.mockReturnValue(1_063_000);
      expect(() => registry.checkNew('x')).not.toThrow();
    } finally {
      clock.mockRestore();
      registry.stop();
    }
  }, 10_000);
});
