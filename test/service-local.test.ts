import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  op,
  ServiceError,
  ServiceManager,
  ServiceUnavailableError,
  TimeoutError,
  UnknownMethodError,
  type CallOutcome,
} from '../src/service/index.js';
import { InvalidArgumentError } from '../src/errors.js';
import { KvService, makeCounter } from './fixtures/service-kv.js';

describe('local services (same thread, no copy)', () => {
  const manager = new ServiceManager();
  const seen: string[] = [];
  manager.registerService('kv', KvService, { options: { prefix: 'x:' } });
  manager.registerService('counter', makeCounter, { options: { start: 1 } });
  manager.registerService('plain', { hello: (name: string) => `hello ${name}`, _secret: () => 's' });
  manager.registerService('imported', op(new URL('./fixtures/service-kv.ts', import.meta.url), 'makeCounter'), { placement: 'local' });
  manager.use({
    before(call) {
      seen.push(`before ${call.service}.${call.method}`);
      if (call.method === 'add' && call.args[0] === 'double') call.args = [21, 21];
    },
    after(outcome: CallOutcome) {
      seen.push(`after ${outcome.service}.${outcome.method} ${outcome.ok ? 'ok' : 'error'}`);
      if (outcome.ok && outcome.result === 'hello hidden') outcome.result = 'hello ***';
    },
  });
  beforeAll(() => manager.start(), 20_000);
  afterAll(() => manager.stop());

  it('passes arguments and results by reference', async () => {
    const value = { big: new Float64Array(4), nested: { n: 1 } };
    const [back] = (await manager.call('kv', 'echo', [value])) as [typeof value];
    expect(back).toBe(value);
    expect(await manager.call('kv', 'set', ['a', value])).toBe(true);
    expect(await manager.call('kv', 'get', ['a'])).toBe(value);
    expect(await manager.call('counter', 'inc', [2])).toBe(3);
    expect(await manager.call('plain', 'hello', ['you'])).toBe('hello you');
    expect(await manager.call('imported', 'inc')).toBe(1);
    expect(manager.callSync('counter', 'get')).toBe(3);
  });

  it('wraps what a method throws in a ServiceError (original as cause) and refuses non-methods', async () => {
    const error = (await manager.call('kv', 'fail', ['bad', 'E_BAD']).catch((e: unknown) => e)) as ServiceError;
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.remote).toMatchObject({ code: 'E_BAD', name: 'RangeError', message: 'bad' });
    expect(error.cause).toBeInstanceOf(RangeError);
    await expect(manager.call('kv', 'failLater', ['later'])).rejects.toThrow('later');
    expect(manager.status('kv').errors).toBe(2);
    for (const name of ['constructor', '__proto__', '_hidden', 'toString', 'valueOf']) {
      await expect(manager.call('kv', name)).rejects.toBeInstanceOf(UnknownMethodError);
    }
    await expect(manager.call('plain', '_secret')).rejects.toBeInstanceOf(UnknownMethodError);
  });

  it('applies deadlines and abort signals to async local methods', async () => {
    await expect(manager.call('kv', 'slow', [200, 'x'], { timeoutMs: 10 })).rejects.toBeInstanceOf(TimeoutError);
    const controller = new AbortController();
    const pending = manager.call('kv', 'slow', [200, 'x'], { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(manager.status('kv').inFlight).toBe(0);
  });

  it('runs middleware before and after calls; before may change arguments, after the outcome', async () => {
    seen.length = 0;
    expect(await manager.call('kv', 'add', ['double', 0])).toBe(42);
    expect(await manager.call('plain', 'hello', ['hidden'])).toBe('hello ***');
    await manager.call('kv', 'fail', ['m']).catch(() => undefined);
    expect(seen).toEqual([
      'before kv.add',
      'after kv.add ok',
      'before plain.hello',
      'after plain.hello ok',
      'before kv.fail',
      'after kv.fail error',
    ]);
    expect(manager.callSync('kv', 'add', [1, 1])).toBe(2);
  });

  it('lets local services call each other through the context', async () => {
    const m = new ServiceManager();
    class Front {
      constructor(
        _options: unknown,
        private readonly context: { services: Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>> },
      ) {}
      async total(): Promise<unknown> {
        return this.context.services.counter!.inc!(5);
      }
    }
    m.registerService('counter', makeCounter);
    m.registerService('front', Front);
    await m.start();
    expect(await m.call('front', 'total')).toBe(5);
    await m.stop();
  });

  it('reports status for local services', () => {
    const status = manager.status('counter');
    expect(status).toMatchObject({ name: 'counter', placement: 'local', state: 'running', instances: 1 });
    expect(status.requests).toBeGreaterThan(0);
    expect(status.lastHeartbeat).toBeGreaterThan(0);
  });
});

describe('registration is checked up front', () => {
  const m = new ServiceManager();

  it('refuses bad names, duplicates, bad targets and bad options with clear errors', () => {
    expect(() => m.registerService('', KvService)).toThrow(/service name/);
    expect(() => m.registerService('has space', KvService)).toThrow(/service name/);
    m.registerService('ok', KvService);
    expect(() => m.registerService('ok', KvService)).toThrow(/already registered/);
    expect(() => m.registerService('w', KvService, { placement: 'worker' })).toThrow(/worker placement needs op\(/);
    expect(() => m.registerService('n', 42 as never)).toThrow(/expected a class, a factory function/);
    expect(() => m.registerService('p', KvService, { placement: 'remote' as never })).toThrow(/placement must be 'local' or 'worker'/);
    expect(() => m.registerService('i', KvService, { instances: 2 })).toThrow(/exactly one instance/);
    const ref = op(new URL('./fixtures/service-kv.ts', import.meta.url), 'KvService');
    expect(() => m.registerService('i0', ref, { instances: 0 })).toThrow(/instances must be an integer from 1/);
    expect(() => m.registerService('r', ref, { maxRestarts: -1 })).toThrow(/maxRestarts/);
    expect(() => m.registerService('q', ref, { requestQueueSize: 1.5 })).toThrow(/requestQueueSize/);
    expect(() => m.registerService('t', ref, { timeoutMs: 0 })).toThrow(/timeoutMs must be a positive number/);
    expect(() => m.registerService('f', ref, { whenFull: 'drop' as never })).toThrow(/whenFull must be 'wait' or 'fail'/);
    expect(() => m.registerService('c', ref, { ringCapacity: 1000 })).toThrow(/ringCapacity must be a power of two/);
    expect(() => m.registerService('u', ref, { bogus: 1 } as never)).toThrow(/unknown option 'bogus'/);
    expect(() => m.registerService('u', ref, { bogus: 1 } as never)).toThrow(InvalidArgumentError);
    expect(() => new ServiceManager({ replyRingCapacity: 3 })).toThrow(/replyRingCapacity/);
    expect(() => m.use({} as never)).toThrow(/before and\/or after/);
    expect(() => op('not a url', 'x')).toThrow(/module URL/);
  });

  it('refuses calls before start, with the reason', async () => {
    await expect(m.call('ok', 'get', ['k'])).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(m.call('ok', 'get', ['k'])).rejects.toThrow(/not started/);
  });

  it('refuses bad call options and non-array arguments', async () => {
    const m2 = new ServiceManager();
    m2.registerService('kv', KvService);
    await m2.start();
    await expect(m2.call('kv', 'get', 'k' as never)).rejects.toThrow(/must be an array/);
    await expect(m2.call('kv', 'get', ['k'], { timeoutMs: -5 })).rejects.toThrow(/timeoutMs/);
    await expect(m2.call('kv', 'get', ['k'], { signal: {} as never })).rejects.toThrow(/AbortSignal/);
    await m2.stop();
  });
});
