import { describe, expect, it } from 'vitest';
import { EndedRequests } from '../src/serve/ended-requests.js';

const entry = (id: string, expiresAt: number) => ({ id, expiresAt, outcome: undefined });

describe('EndedRequests: the ids a server remembers after their requests ended', () => {
  it('keeps at most its capacity, forgetting the oldest first, through ring growth and wraps', () => {
    const ended = new EndedRequests<never>(3000);
    for (let i = 0; i < 10_000; i++) ended.add(entry(`r${i}`, i));
    expect(ended.size).toBe(3000);
    expect(ended.get('r6999')).toBeUndefined();
    expect(ended.get('r7000')?.expiresAt).toBe(7000);
    expect(ended.get('r9999')?.expiresAt).toBe(9999);
  });

  it('drops the expired from the front, and an id remembered again survives its older entry', () => {
    const ended = new EndedRequests<never>(10);
    ended.add(entry('a', 10));
    ended.add(entry('b', 20));
    ended.add(entry('a', 30)); // 'a' reused after its window: the newer entry stands
    ended.dropExpired(10);
    expect(ended.size).toBe(2);
    expect(ended.get('a')?.expiresAt).toBe(30);
    ended.dropExpired(25);
    expect(ended.get('b')).toBeUndefined();
    expect(ended.get('a')?.expiresAt).toBe(30);
    ended.dropExpired(30);
    expect(ended.size).toBe(0);
    expect(ended.get('a')).toBeUndefined();
  });

  it('with capacity 0 remembers nothing', () => {
    const ended = new EndedRequests<never>(0);
    ended.add(entry('a', 10));
    expect(ended.size).toBe(0);
    expect(ended.get('a')).toBeUndefined();
  });
});
