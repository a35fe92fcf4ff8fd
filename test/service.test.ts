import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnWorker } from '../src/pool/index.js';
import { RingDescriptor } from '../src/ring/index.js';
import { I_SPACE_WAITERS, instanceBase } from '../src/service/protocol.js';
import {
  op,
  ServiceError,
  ServiceManager,
  UnknownMethodError,
  UnknownServiceError,
  type ServiceClientHandle,
} from '../src/service/index.js';
import type { KvService } from './fixtures/service-kv.js';

const KV_MODULE = new URL('./fixtures/service-kv.ts', import.meta.url);
const CALLER = new URL('./fixtures/service-caller.ts', import.meta.url);
const GATE = op(new URL('./fixtures/service-gate.ts', import.meta.url), 'GateService');

/** Runs test/fixtures/service-caller.ts in a fresh worker thread and resolves with what it reports. */
function runCaller(data: { handle: ServiceClientHandle; mode: string; service?: string; n?: number; base?: number; method?: string; args?: unknown[] }): Promise<unknown> {
  const worker = spawnWorker(CALLER, data);
  return new Promise((resolve, reject) => {
    worker.once('message', (m: { ok: boolean; result?: unknown; error?: { message: string } }) =>
      m.ok ? resolve(m.result) : reject(new Error(m.error!.message)),
    );
    worker.once('error', reject);
  }).finally(() => worker.terminate());
}

describe('ServiceManager with worker services (real workers, shared rings)', () => {
  const manager = new ServiceManager();
  manager.registerService('kv', op(KV_MODULE, 'KvService'), { placement: 'worker', instances: 2, options: { prefix: 'p:' } });
  manager.registerService('counter', op(KV_MODULE, 'makeCounter'), { placement: 'worker', options: { start: 10 } });
  manager.registerService('notes', op(KV_MODULE, 'KvService'), { placement: 'local' });

  beforeAll(() => manager.start(), 20_000);
  afterAll(() => manager.stop(), 20_000);

  it('round-trips arguments and results through the rings (typed arrays, Map, Date, BigInt survive)', async () => {
    expect(await manager.call('kv', 'add', [2, 40])).toBe(42);
    const value = { n: 1.5, big: -(2n ** 80n), when: new Date(1234), map: new Map<unknown, unknown>([['a', [1, 2]]]), set: new Set([1]), f32: new Float32Array([1, 2, 3]), s: 'héllo €' };
    // instances: 2 — set on both so that the get below finds it whichever instance answers
    await Promise.all([manager.call('kv', 'set', ['k', value]), manager.call('kv', 'set', ['k', value])]);
    const back = (await manager.call('kv', 'get', ['k'])) as typeof value;
    expect(back).toEqual(value);
    expect(back.f32).toBeInstanceOf(Float32Array);
    const big = new Float64Array(50_000).map((_, i) => i);
    expect(await manager.call('kv', 'sum', [big])).toBe((49_999 * 50_000) / 2);
    // A request larger than half the ring is refused at the call, with the limit in the message.
    await expect(manager.call('kv', 'sum', [new Float64Array(100_000)])).rejects.toThrow(/exceeds this ring's limit/);
    const scaled = (await manager.call('kv', 'scale', [new Float32Array([1, 2]), 3])) as Float32Array;
    expect(Array.from(scaled)).toEqual([3, 6]);
    expect(await manager.call('kv', 'echo', [])).toEqual([]);
    expect(await manager.call('counter', 'inc', [5])).toBe(15);
  }, 10_000);

  it('runs worker services on other threads, spreading calls over the instances', async () => {
    const threads = new Set(await Promise.all(Array.from({ length: 8 }, () => manager.call('kv', 'thread'))));
    expect(threads.size).toBe(2);
    expect(threads.has(0)).toBe(false);
  }, 10_000);

  it('offers a typed proxy and services.<name>.<method>()', async () => {
    const kv = manager.proxy<KvService>('kv');
    expect(await kv.add(1, 2)).toBe(3);
    expect(await manager.services.counter!.get!()).toBeGreaterThanOrEqual(10);
  }, 10_000);

  it('turns a throwing method into a ServiceError with the remote message, code and stack, and counts it', async () => {
    const before = manager.status('kv').errors;
    const error = (await manager.call('kv', 'fail', ['boom', 'E_BOOM']).catch((e: unknown) => e)) as ServiceError;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.code).toBe('ERR_SERVICE');
    expect(error.message).toBe('boom');
    expect(error.remote.code).toBe('E_BOOM');
    expect(error.remote.name).toBe('RangeError');
    expect(error.remote.stack).toMatch(/KvService\.fail/);
    expect(error.stack).toMatch(/KvService\.fail/);
    const rejected = (await manager.call('kv', 'failLater', ['later']).catch((e: unknown) => e)) as ServiceError;
    expect(rejected).toBeInstanceOf(ServiceError);
    expect(rejected.message).toBe('later');
    expect(manager.status('kv').errors).toBe(before + 2);
  }, 10_000);

  it('refuses unknown methods, and names that are not own methods, as UnknownMethodError', async () => {
    for (const name of ['nope', 'constructor', '__proto__', '_hidden', 'toString', 'hasOwnProperty', '__defineGetter__']) {
      await expect(manager.call('kv', name, [])).rejects.toBeInstanceOf(UnknownMethodError);
      await expect(manager.call('notes', name, [])).rejects.toBeInstanceOf(UnknownMethodError);
    }
  }, 10_000);

  it('refuses unknown services as UnknownServiceError', async () => {
    await expect(manager.call('nope', 'x', [])).rejects.toBeInstanceOf(UnknownServiceError);
    expect(() => manager.callSync('nope', 'x', [])).toThrow(UnknownServiceError);
    expect(() => manager.proxy('nope')).toThrow(UnknownServiceError);
    expect(() => manager.status('nope')).toThrow(UnknownServiceError);
  });

  it('refuses unserializable arguments with a TypeError at the call, sending nothing', async () => {
    const before = manager.status('kv').requests;
    await expect(manager.call('kv', 'echo', [() => 1])).rejects.toBeInstanceOf(TypeError);
    await expect(manager.call('kv', 'echo', [Symbol('s')])).rejects.toBeInstanceOf(TypeError);
    await expect(manager.call('kv', 'echo', [{ deep: [1, { f() {} }] }])).rejects.toThrow(/cannot be serialized/);
    await manager.call('kv', 'add', [1, 1]); // answered after anything sent before it
    expect(manager.status('kv').requests).toBe(before + 1);
    const error = (await manager.call('kv', 'giveFunction').catch((e: unknown) => e)) as ServiceError;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.remote.code).toBe('ERR_NOT_SERIALIZABLE');
  }, 10_000);

  it('answers 1000 concurrent calls from 4 threads correctly', async () => {
    const handles = await Promise.all([0, 1, 2].map(() => manager.clientHandle()));
    const fromMain = Promise.all(Array.from({ length: 250 }, (_, i) => manager.call('kv', 'add', [i, 1])));
    const fromWorkers = handles.map((handle, w) => runCaller({ handle, mode: 'concurrent', n: 250, base: (w + 1) * 1000 }));
    const [main, ...workers] = (await Promise.all([fromMain, ...fromWorkers])) as number[][];
    expect(main).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    workers.forEach((results, w) => expect(results).toEqual(Array.from({ length: 250 }, (_, i) => (w + 1) * 1000 + i + 1)));
    await Promise.all(handles.map((h) => manager.releaseClient(h)));
    expect(manager.status('kv').inFlight).toBe(0);
  }, 20_000);

  it('keeps more calls in flight than its pending-slot table and its queue hold (5000, queue 4096)', async () => {
    const results = await Promise.all(Array.from({ length: 5000 }, (_, i) => manager.call('counter', 'get').then(() => manager.call('kv', 'add', [i, i]))));
    expect(results).toEqual(Array.from({ length: 5000 }, (_, i) => 2 * i));
    const direct = await Promise.all(Array.from({ length: 5000 }, (_, i) => manager.call('kv', 'add', [i, 1])));
    expect(direct).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
    expect(manager.status('kv').inFlight).toBe(0);
  }, 20_000);

  it('serves synchronous calls from a worker: callSync and ctx.services.<name>.<method>() (worker and local services)', async () => {
    const handle = await manager.clientHandle();
    expect(await runCaller({ handle, mode: 'sync', n: 200 })).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const ctx = (await runCaller({ handle, mode: 'ctx' })) as { value: unknown; local: number; sum: number };
    expect(ctx.value).toEqual({ when: new Date(5), big: 2n ** 70n, v: new Float64Array([1, 2]) });
    expect(ctx.local).toBe(5);
    expect(ctx.sum).toBe(4);
    const errors = (await runCaller({ handle, mode: 'errors' })) as string[];
    expect(errors).toEqual([
      'ServiceError:ERR_SERVICE:worker boom',
      'UnknownMethodError:ERR_UNKNOWN_METHOD:',
      'UnknownServiceError:ERR_UNKNOWN_SERVICE:',
      'UnknownServiceError:ERR_UNKNOWN_SERVICE:',
      'UnserializableValueError:ERR_NOT_SERIALIZABLE:', // (the codec's error; the service layer exports it as UnserializableError too)
    ]);
    await manager.releaseClient(handle);
  }, 20_000);

  it('lets a service call other services the same way (worker → worker, worker → local, itself)', async () => {
    expect(await manager.call('kv', 'viaOther', ['counter', 'inc', [100]])).toBeGreaterThanOrEqual(110);
    expect(await manager.call('kv', 'viaOther', ['notes', 'add', [4, 5]])).toBe(9);
    expect(await manager.call('kv', 'viaOther', ['kv', 'add', [6, 7]])).toBe(13);
    const error = (await manager.call('kv', 'viaOther', ['kv', 'fail', ['nested']]).catch((e: unknown) => e)) as ServiceError;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.message).toBe('nested');
  }, 10_000);

  it('reports status: state, counters, latency percentiles, heartbeat', async () => {
    for (let i = 0; i < 20; i++) await manager.call('kv', 'add', [i, i]);
    const status = manager.status('kv');
    expect(status).toMatchObject({ name: 'kv', placement: 'worker', state: 'running', instances: 2, restarts: 0, inFlight: 0 });
    expect(status.requests).toBeGreaterThan(20);
    expect(status.latency.samples).toBeGreaterThan(20);
    expect(status.latency.p50).toBeGreaterThan(0);
    expect(status.latency.p99).toBeGreaterThanOrEqual(status.latency.p50);
    expect(status.lastHeartbeat).toBeGreaterThan(Date.now() - 5_000);
    expect(manager.status('notes')).toMatchObject({ placement: 'local', state: 'running' });
  }, 10_000);

  it('refuses callSync to a worker service on the main thread', () => {
    expect(() => manager.callSync('kv', 'add', [1, 2])).toThrow(/blocks the calling thread/);
    expect(manager.callSync('notes', 'add', [1, 2])).toBe(3); // local: runs in place, does not block
  });
});

/** Resolves once `condition()` holds (checked every millisecond). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 1));
}

describe('sync calls from a worker that must wait for room (they park, and are woken)', () => {
  // The gate service holds its thread in hold() until the test opens the gate (see service-gate.ts).
  const gate = new Int32Array(new SharedArrayBuffer(8));
  const closeGate = () => {
    Atomics.store(gate, 0, 0);
    Atomics.store(gate, 1, 0);
  };
  const openGate = () => {
    Atomics.store(gate, 1, 1);
    Atomics.notify(gate, 1);
  };
  const manager = new ServiceManager();
  manager.registerService('queue', GATE, { placement: 'worker', requestQueueSize: 3, options: { gate: gate.buffer } });
  manager.registerService('ring', GATE, { placement: 'worker', ringCapacity: 4096, options: { gate: gate.buffer } });
  let handle: ServiceClientHandle;

  beforeAll(async () => {
    await manager.start();
    handle = await manager.clientHandle();
  }, 20_000);
  afterAll(async () => {
    openGate();
    await manager.releaseClient(handle);
    await manager.stop();
  }, 20_000);

  /** Calls hold() on `service`; resolves once the host holds its thread (with the call, still pending). */
  async function hold(service: string): Promise<{ held: Promise<unknown> }> {
    closeGate();
    const held = manager.call(service, 'hold');
    await until(() => Atomics.load(gate, 0) === 1);
    return { held };
  }

  it('waits in a full request queue, parked on the queue spot, until the host frees a place', async () => {
    const control = new Int32Array(handle.services.find((s) => s.name === 'queue')!.control);
    const { held } = await hold('queue');
    const queued = [manager.call('queue', 'ping', [1]), manager.call('queue', 'ping', [2])];
    expect(manager.status('queue').queued).toBe(3);
    const blocked = runCaller({ handle, mode: 'one', service: 'queue', method: 'ping', args: ['from a worker'] });
    await until(() => Atomics.load(control, instanceBase(0) + I_SPACE_WAITERS) > 0);
    openGate();
    expect(await blocked).toBe('from a worker');
    expect(await held).toBe('released');
    expect(await Promise.all(queued)).toEqual([1, 2]);
  }, 20_000);

  it('waits in a full request ring, parked in the ring (alone, then again beside an async call)', async () => {
    const ringWords = new Int32Array(handle.services.find((s) => s.name === 'ring')!.rings[0]!, 0, RingDescriptor.HEADER_LENGTH >> 2);
    const producersParked = () => Atomics.load(ringWords, RingDescriptor.PRODUCER_WAITERS_OFFSET >> 2);
    const big = (n: number) => new Uint8Array(1500).fill(n);
    for (const withAsync of [false, true]) {
      const { held } = await hold('ring');
      // Two ~1.5 kB requests fill most of the 4 kB ring while the host is held; a third does not fit.
      const calls = [manager.call('ring', 'ping', [big(1)]), manager.call('ring', 'ping', [big(2)])];
      const blocked = runCaller({ handle, mode: 'one', service: 'ring', method: 'ping', args: [big(3)] });
      await until(() => producersParked() > 0);
      if (withAsync) {
        calls.push(manager.call('ring', 'ping', [big(4)]));
        await until(() => producersParked() > 1);
      }
      openGate();
      expect(await blocked).toEqual(big(3));
      expect(await held).toBe('released');
      expect(await Promise.all(calls)).toEqual(withAsync ? [big(1), big(2), big(4)] : [big(1), big(2)]);
      expect(producersParked()).toBe(0);
    }
  }, 20_000);
});
