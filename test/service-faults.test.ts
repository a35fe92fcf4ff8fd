import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { UnknownOptionError } from '../src/errors.js';
import { op, ServiceError, ServiceManager, ServiceUnavailableError, TimeoutError } from '../src/service/index.js';

const HANG = op(new URL('./fixtures/service-hang.ts', import.meta.url), 'HangService');
const KV = op(new URL('./fixtures/service-kv.ts', import.meta.url), 'KvService');

async function until(what: string, ready: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('services: a hung instance', () => {
  it('is declared hung once its heartbeat stops while a call is overdue: replaced, its calls failed, status shows it', async () => {
    const manager = new ServiceManager({ stopGraceMs: 2000 });
    manager.registerService('h', HANG, { placement: 'worker', hangAfterMs: 300, maxRestarts: 2 });
    await manager.start();
    try {
      const firstThread = await manager.call<number>('h', 'thread');
      const spinning = manager.call('h', 'spin', [], { timeoutMs: 150 });
      const queued = manager.call('h', 'echo', ['behind the hang']); // default deadline: 30 s
      await expect(spinning).rejects.toBeInstanceOf(TimeoutError);
      // The replacement fails what was in flight to the hung worker, long before its deadline.
      const error = await queued.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      expect((error as ServiceUnavailableError).code).toBe('ERR_SERVICE_UNAVAILABLE');
      expect((error as Error).message).toMatch(/hung/);
      await until('the replacement', () => manager.status('h').state === 'running');
      expect(manager.status('h')).toMatchObject({ state: 'running', restarts: 1, hung: 1 });
      expect(await manager.call('h', 'echo', [7])).toBe(7);
      expect(await manager.call<number>('h', 'thread')).not.toBe(firstThread);
    } finally {
      await manager.stop();
    }
  }, 30_000);

  it('with 2 instances, later calls are all answered (none goes to the hung one for good)', async () => {
    const manager = new ServiceManager({ stopGraceMs: 2000 });
    manager.registerService('h', HANG, { placement: 'worker', instances: 2, hangAfterMs: 300 });
    await manager.start();
    try {
      await expect(manager.call('h', 'spin', [], { timeoutMs: 150 })).rejects.toBeInstanceOf(TimeoutError);
      await until('the hang to be noticed', () => manager.status('h').hung === 1);
      const answers = [];
      for (let i = 0; i < 20; i++) answers.push(await manager.call('h', 'echo', [i], { timeoutMs: 5000 }));
      expect(answers).toEqual([...Array(20).keys()]);
      expect(manager.status('h')).toMatchObject({ hung: 1, restarts: 1 });
    } finally {
      await manager.stop();
    }
  }, 30_000);

  it('clientHandle() does not wait on a hung service, and stop() ends it within a bound', async () => {
    // No call of it is overdue (its deadline is far off): it is not replaced, only waited around.
    const manager = new ServiceManager({ stopGraceMs: 60_000 });
    manager.registerService('h', HANG, { placement: 'worker', hangAfterMs: 500 });
    manager.registerService('kv', KV, { placement: 'worker' });
    await manager.start();
    const spinning = manager.call('h', 'spin');
    spinning.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const handle = await manager.clientHandle();
    expect(handle.services.map((s) => s.name).sort()).toEqual(['h', 'kv']);
    await manager.releaseClient(handle);
    expect(await manager.call('kv', 'add', [1, 2])).toBe(3);
    // stop() ends the hung host once its heartbeat has been still for hangAfterMs, failing the
    // call in flight, rather than waiting out stopGraceMs (or the call's 30 s deadline, which
    // would make it a TimeoutError).
    await manager.stop();
    await expect(spinning).rejects.toBeInstanceOf(ServiceUnavailableError);
  }, 40_000);
});

describe('services: proxies and thrown values', () => {
  it('JSON.stringify, await and inspection of a proxy call nothing remote', async () => {
    const manager = new ServiceManager();
    manager.registerService('h', HANG, { placement: 'worker' });
    await manager.start();
    try {
      const proxy = manager.proxy<{ echo(v: unknown): unknown }>('h');
      expect(JSON.stringify({ kv: proxy })).toBe('{"kv":{}}');
      expect(JSON.stringify(manager.services)).toBe('{"h":{}}');
      expect((proxy as unknown as { then?: unknown }).then).toBeUndefined();
      expect(await Promise.resolve(proxy)).toBe(proxy);
      expect((manager.services as unknown as { toJSON?: unknown }).toJSON).toBeUndefined();
      expect((proxy as unknown as Record<string, unknown>).inspect).toBeUndefined();
      expect(String(Object.keys(proxy))).toBe('');
      await expect(proxy.echo(5)).resolves.toBe(5);
      expect(manager.status('h').requests).toBe(1); // nothing but echo reached the host
    } finally {
      await manager.stop();
    }
  }, 30_000);

  it('a thrown plain { code, message } arrives as a ServiceError carrying them (worker and local)', async () => {
    const manager = new ServiceManager();
    manager.registerService('h', HANG, { placement: 'worker' });
    const { HangService } = await import('./fixtures/service-hang.js');
    manager.registerService('local', new HangService());
    await manager.start();
    try {
      for (const service of ['h', 'local']) {
        const error = await manager.call(service, 'throwPlain').then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ServiceError);
        expect(error).toMatchObject({ code: 'ERR_SERVICE', message: 'a plain object was thrown', remoteCode: 'E_PLAIN' });
        expect(String(error)).not.toMatch(/object Object/);
        const named = (await manager.call(service, 'throwPlainNamed').catch((e: unknown) => e)) as ServiceError;
        expect(named).toMatchObject({ message: 'over quota', remoteCode: '42' });
        expect(named.remote.name).toBe('QuotaError');
      }
    } finally {
      await manager.stop();
    }
  }, 30_000);
});

describe('services: options', () => {
  it('misspelled service and manager options are an UnknownOptionError naming the valid ones', () => {
    expect(() => new ServiceManager({ stopGraceMS: 5 } as never)).toThrow(UnknownOptionError);
    expect(() => new ServiceManager({ stopGraceMS: 5 } as never)).toThrow(/unknown option 'stopGraceMS' \(valid: .*stopGraceMs/);
    const manager = new ServiceManager();
    let error: unknown;
    try {
      manager.registerService('kv', KV, { instance: 2 } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnknownOptionError);
    expect(error).toMatchObject({ code: 'ERR_UNKNOWN_OPTION', option: 'instance' });
    expect((error as UnknownOptionError).validOptions).toContain('instances');
    expect((error as Error).message).toMatch(/service 'kv': unknown option 'instance' \(valid: .*instances.*hangAfterMs/);
    expect(() => manager.registerService('kv', KV, { hangAfterMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
