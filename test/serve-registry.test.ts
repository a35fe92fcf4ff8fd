import { describe, expect, it } from 'vitest';
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
