import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  op,
  ServiceManager,
  ServiceQueueFullError,
  ServiceUnavailableError,
  TimeoutError,
} from '../src/service/index.js';

const KV = op(new URL('./fixtures/service-kv.ts', import.meta.url), 'KvService');
const GATE = op(new URL('./fixtures/service-gate.ts', import.meta.url), 'GateService');

/** Resolves once the gate service reports that it is holding its thread. */
async function holding(words: Int32Array): Promise<void> {
  while (Atomics.load(words, 0) === 0) await Atomics.waitAsync(words, 0, 0, 1000).value;
}

function release(words: Int32Array): void {
  Atomics.store(words, 1, 1);
  Atomics.notify(words, 1);
}

describe('service failures', () => {
  it('times out a call at its deadline (before a timer set just after it), then drops and counts the late answer without leaking', async () => {
    const manager = new ServiceManager();
    manager.registerService('kv', KV, { placement: 'worker' });
    await manager.start();
    try {
      const dropped = manager.droppedResponses;
      const started = performance.now();
      const late = manager.call('kv', 'busy', [80, 'late'], { timeoutMs: 25 });
      // A plain timer due 5 ms after the call's deadline. Timers fire in the order they are due,
      // however late a loaded box runs them, so the call must have failed before this one fires:
      // an order, not a duration, and so not at the mercy of the box's timer lag.
      const probe = new Promise<'probe'>((resolve) => setTimeout(() => resolve('probe'), 30));
      const first = await Promise.race([late.then(() => 'answered', (e: unknown) => (e instanceof TimeoutError ? 'timed out' : e)), probe]);
      expect(first).toBe('timed out');
      await expect(late).rejects.toBeInstanceOf(TimeoutError);
      expect(performance.now() - started).toBeGreaterThanOrEqual(24);
      await probe;
      expect(manager.status('kv').inFlight).toBe(0);
      // The host answers in order: once this is answered, the late answer has been read and
      // dropped. (On an overloaded box the host may have got to the request only after its
      // deadline: then it answered with an expiry, which is what rejected the call.)
      expect(await manager.call('kv', 'add', [1, 2])).toBe(3);
      const expiredAtHost = manager.status('kv').expired === 1;
      expect(manager.droppedResponses === dropped + 1 || expiredAtHost).toBe(true);
      expect(manager.status('kv').inFlight).toBe(0);
      // A request whose deadline passed while it waited in the queue is dropped unexecuted.
      // (On a very busy box the first request above may have expired in the queue too.)
      const expired = manager.status('kv').expired;
      const blocker = manager.call('kv', 'busy', [60]);
      await expect(manager.call('kv', 'add', [1, 1], { timeoutMs: 10 })).rejects.toBeInstanceOf(TimeoutError);
      await blocker;
      expect(await manager.call('kv', 'add', [2, 2])).toBe(4);
      expect(manager.status('kv').expired).toBe(expired + 1);
    } finally {
      await manager.stop();
    }
  }, 20_000);

  it('cancels a call with an aborted signal (before it is sent, and in flight)', async () => {
    const m2 = new ServiceManager();
    m2.registerService('kv', KV, { placement: 'worker' });
    await m2.start();
    try {
      const requests = m2.status('kv').requests;
      const early = new AbortController();
      early.abort(new Error('not wanted'));
      await expect(m2.call('kv', 'add', [1, 2], { signal: early.signal })).rejects.toThrow('not wanted');
      const controller = new AbortController();
      const pending = m2.call('kv', 'slow', [50, 'x'], { signal: controller.signal });
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      expect(m2.status('kv').inFlight).toBe(0);
      await m2.call('kv', 'busy', [60]); // the aborted call's answer arrives before this one's
      expect(m2.status('kv').requests).toBe(requests + 2); // the early-aborted call was never sent
    } finally {
      await m2.stop();
    }
  }, 20_000);

  it('fails in-flight calls when the worker crashes, restarts up to maxRestarts, then fails fast', async () => {
    const manager = new ServiceManager();
    manager.registerService('kv', KV, { placement: 'worker', maxRestarts: 1 });
    await manager.start();
    try {
      const answered = manager.call('kv', 'busy', [30, 'before']);
      const crashing = manager.call('kv', 'crash');
      const queued = manager.call('kv', 'add', [1, 2]);
      expect(await answered).toBe('before');
      await expect(crashing).rejects.toBeInstanceOf(ServiceUnavailableError);
      await expect(queued).rejects.toBeInstanceOf(ServiceUnavailableError);
      // Calls made while it restarts wait in its queue and are served by the new instance.
      expect(await manager.call('kv', 'add', [2, 3])).toBe(5);
      expect(manager.status('kv')).toMatchObject({ state: 'running', restarts: 1 });

      await expect(manager.call('kv', 'crash')).rejects.toBeInstanceOf(ServiceUnavailableError);
      expect(manager.status('kv').state).toBe('failed');
      // Fails fast: at once, not after the call's timeout (30 s by default) — a 1 s race shows it
      // without timing the box.
      const late = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 1_000).unref());
      await expect(Promise.race([manager.call('kv', 'add', [1, 1]), late])).rejects.toThrow(/failed/);
    } finally {
      await manager.stop();
    }
    expect(manager.status('kv').state).toBe('failed');
  }, 30_000);

  it('waits for room in a full request queue (whenFull: wait) and answers every call', async () => {
    const gate = new Int32Array(new SharedArrayBuffer(8));
    const manager = new ServiceManager();
    manager.registerService('gate', GATE, { placement: 'worker', requestQueueSize: 3, whenFull: 'wait', options: { gate: gate.buffer } });
    await manager.start();
    try {
      const held = manager.call('gate', 'hold');
      await holding(gate);
      const calls = Array.from({ length: 6 }, (_, i) => manager.call('gate', 'ping', [i]));
      expect(manager.status('gate').queued).toBe(3);
      release(gate);
      expect(await held).toBe('released');
      expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      release(gate);
      await manager.stop();
    }
  }, 20_000);

  it('fails calls to a full request queue with ServiceQueueFullError (whenFull: fail), dropping none silently', async () => {
    const gate = new Int32Array(new SharedArrayBuffer(8));
    const manager = new ServiceManager();
    // The queue holds 3: the running `hold` (its batch is not done) and two more.
    manager.registerService('gate', GATE, { placement: 'worker', requestQueueSize: 3, whenFull: 'fail', options: { gate: gate.buffer } });
    await manager.start();
    try {
      const held = manager.call('gate', 'hold');
      await holding(gate);
      const outcomes = Array.from({ length: 5 }, (_, i) => manager.call('gate', 'ping', [i]).then((v) => v, (e: unknown) => e));
      release(gate);
      await held;
      const results = await Promise.all(outcomes);
      expect(results.slice(0, 2)).toEqual([0, 1]);
      for (const r of results.slice(2)) expect(r).toBeInstanceOf(ServiceQueueFullError);
      expect(await manager.call('gate', 'ping', ['again'])).toBe('again');
    } finally {
      release(gate);
      await manager.stop();
    }
  }, 20_000);

  it('fails start() clearly when a service cannot be set up (no restarts)', async () => {
    const manager = new ServiceManager();
    manager.registerService('broken', op(new URL('./fixtures/service-kv.ts', import.meta.url), 'BrokenService'), { placement: 'worker' });
    await expect(manager.start()).rejects.toThrow(/failed to start: cannot set up/);
    expect(manager.status('broken').state).toBe('failed');
    await manager.stop();
    const missing = new ServiceManager();
    missing.registerService('missing', op(new URL('./fixtures/service-kv.ts', import.meta.url), 'Nope'), { placement: 'worker' });
    await expect(missing.start()).rejects.toThrow(/no exported function 'Nope'/);
  }, 20_000);
});

describe('service lifecycle', () => {
  const manager = new ServiceManager();
  manager.registerService('kv', KV, { placement: 'worker' });
  beforeAll(() => undefined);
  afterAll(() => manager.stop());

  it('treats start and stop twice as harmless, and stop drains calls in flight', async () => {
    await manager.stop(); // before start: nothing to do
    await Promise.all([manager.start(), manager.start()]);
    await manager.start();
    expect(manager.state).toBe('started');
    const inFlight = [manager.call('kv', 'slow', [30, 'a']), manager.call('kv', 'busy', [20, 'b'])];
    const stopping = manager.stop();
    await expect(manager.call('kv', 'add', [1, 2])).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(await Promise.all(inFlight)).toEqual(['a', 'b']);
    await Promise.all([stopping, manager.stop()]);
    await manager.stop();
    expect(manager.state).toBe('stopped');
    expect(manager.status('kv').state).toBe('stopped');
    await expect(manager.start()).rejects.toThrow(/cannot be started again/);
    await expect(manager.call('kv', 'add', [1, 2])).rejects.toThrow(/stopped/);
  }, 20_000);
});

describe('services registered after start', () => {
  it('start at once, and are called like the others', async () => {
    const manager = new ServiceManager();
    manager.registerService('kv', KV, { placement: 'worker' });
    await manager.start();
    try {
      manager.registerService('late', KV, { placement: 'worker' });
      manager.registerService('lateLocal', op(new URL('./fixtures/service-kv.ts', import.meta.url), 'makeCounter'), { placement: 'local' });
      expect(await manager.call('late', 'add', [1, 2])).toBe(3);
      expect(await manager.call('lateLocal', 'inc', [4])).toBe(4);
      expect(manager.status('late').state).toBe('running');
      expect(await manager.call('kv', 'viaOther', ['lateLocal', 'inc', [1]]).catch((e: Error) => e.name)).toBe('ServiceError'); // not in kv's handle
    } finally {
      await manager.stop();
    }
  }, 20_000);
});

describe('callSync on the main thread where blocking is allowed (allowBlockingOnMainThread)', () => {
  const manager = new ServiceManager({ allowBlockingOnMainThread: true });
  manager.registerService('queue', KV, { placement: 'worker', requestQueueSize: 2 });
  manager.registerService('ring', KV, { placement: 'worker', ringCapacity: 4096 });
  beforeAll(() => manager.start(), 20_000);
  afterAll(() => manager.stop(), 20_000);

  /** Sends `service` a busy request and waits until its host runs it (it then drains nothing for `ms`). */
  async function busyHost(service: string, ms: number): Promise<Promise<unknown>[]> {
    const busy = manager.call(service, 'busy', [ms, 'busy']);
    await new Promise((resolve) => setTimeout(resolve, 30));
    return [busy];
  }

  it('waits for room in a full request queue (and times out there at its deadline)', async () => {
    const calls = await busyHost('queue', 200);
    calls.push(manager.call('queue', 'add', [1, 1]));
    expect(manager.status('queue').queued).toBe(2);
    const started = performance.now();
    expect(() => manager.callSync('queue', 'add', [2, 2], { timeoutMs: 20 })).toThrow(/no room in the request queue/);
    expect(manager.callSync('queue', 'add', [3, 3])).toBe(6);
    expect(performance.now() - started).toBeGreaterThan(50); // it waited for the busy request
    expect(await Promise.all(calls)).toEqual(['busy', 2]);
  }, 20_000);

  it('an async call waiting for room in a full queue notices its abort (within a park, 50 ms)', async () => {
    const calls = await busyHost('queue', 300);
    calls.push(manager.call('queue', 'add', [1, 1]));
    const controller = new AbortController();
    const waiting = manager.call('queue', 'add', [2, 2], { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 10));
    const order: string[] = [];
    void calls[0]!.then(() => order.push('busy done'));
    controller.abort(new Error('not wanted'));
    await expect(waiting).rejects.toThrow('not wanted');
    order.push('abort noticed');
    expect(await Promise.all(calls)).toEqual(['busy', 2]);
    // Noticed while the queue was still full (the busy request runs 300 ms), not when room came.
    expect(order).toEqual(['abort noticed', 'busy done']);
  }, 20_000);

  it('waits for room in a full request ring (and times out there at its deadline)', async () => {
    const big = (n: number) => new Uint8Array(1500).fill(n);
    const calls = await busyHost('ring', 200);
    // Two ~1.5 kB requests wait in the 4 kB ring while the host is busy; a third does not fit.
    calls.push(manager.call('ring', 'echo', [big(1)]), manager.call('ring', 'echo', [big(2)]));
    const started = performance.now();
    expect(() => manager.callSync('ring', 'echo', [big(3)], { timeoutMs: 20 })).toThrow(/no room in the request ring/);
    expect(manager.callSync('ring', 'echo', [big(4)])).toEqual([big(4)]);
    expect(performance.now() - started).toBeGreaterThan(50);
    expect(await Promise.all(calls)).toEqual(['busy', [big(1)], [big(2)]]);
  }, 20_000);
});
