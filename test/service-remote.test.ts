import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Svcm } from '@nats-io/services';
import { ServiceError, ServiceManager, ServiceUnavailableError, TimeoutError, UnknownMethodError } from '../src/service/index.js';
import { StreamEnvironment } from '../src/stream/index.js';
import { InvalidArgumentError } from '../src/errors.js';
import { NatsConnectionError } from '../src/nats/index.js';
import { NATS_MISSING, NatsServer, natsServerAvailable } from './helpers/nats-server.js';

const available = natsServerAvailable();
if (!available) console.warn(NATS_MISSING);

const EXPOSER = fileURLToPath(new URL('./fixtures/service-exposer.ts', import.meta.url));

let server: NatsServer;
let child: ChildProcess;
let nc: NatsConnection;

describe.skipIf(!available)('remote services over NATS (real nats-server on 127.0.0.1)', () => {
  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url });
    child = spawn(process.execPath, ['--import', 'tsx', EXPOSER, server.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => void (out += chunk.toString()));
    const deadline = Date.now() + 20_000;
    while (!out.includes('ready')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the exposing process did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await nc?.close();
    await server?.dispose();
  });

  it('calls a service another process exposes: call, proxy, values through the codec, and the remote error', async () => {
    const services = new ServiceManager();
    services.registerRemote('calc', { servers: server.url, timeoutMs: 5000 });
    await services.start();
    try {
      expect(await services.call('calc', 'add', [2, 3])).toBe(5);
      const calc = services.proxy<{ add(a: number, b: number): number; echo<T>(v: T): T; pid(): number }>('calc');
      expect(await calc.add(40, 2)).toBe(42);
      const value = { n: 1n << 60n, when: new Date(5), list: [1, 'two', null], bytes: new Uint8Array([1, 2, 3]), nested: { ok: true } };
      expect(await calc.echo(value)).toEqual(value);
      expect(await calc.pid()).toBe(child.pid);
      const failed = await services.call('calc', 'fail').catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(ServiceError);
      expect((failed as ServiceError).remote).toMatchObject({ code: 'E_RANGE', name: 'RangeError', message: 'out of range' });
      await expect(services.call('calc', 'nope')).rejects.toBeInstanceOf(UnknownMethodError);
      // The NATS services API sees it: discovery and per-endpoint counts.
      const stats = await new Svcm(nc).client({ strategy: 'count', maxMessages: 1, maxWait: 2000 }).stats('calc');
      for await (const s of stats) {
        expect(s.name).toBe('calc');
        expect(s.endpoints![0]!.num_requests).toBeGreaterThanOrEqual(5);
        expect(s.endpoints![0]!.data).toMatchObject({ name: 'calc', state: 'running' });
        expect((s.endpoints![0]!.data as { errors: number }).errors).toBeGreaterThanOrEqual(1);
        break;
      }
    } finally {
      await services.stop();
    }
  });

  it('operators call it as ctx.services', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    env.services.registerRemote('calc', { servers: server.url });
    const out: number[] = [];
    env
      .fromIterable([1, 2, 3])
      .map((x: number, ctx) => ctx.services.calc!.add!(x, 100) as number)
      .sink((x: number) => void out.push(x));
    try {
      await env.execute();
    } finally {
      await env.close();
    }
    expect(out.sort()).toEqual([101, 102, 103]);
  });

  it('through ctx.services too: past its deadline the coded TimeoutError, nobody answering ServiceUnavailableError, a remote method error with its own code', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    env.services.registerRemote('calc', { servers: server.url, timeoutMs: 300 });
    env.services.registerRemote('ghost', { servers: server.url, methods: ['get'] });
    const seen: string[][] = [];
    env
      .fromIterable(['slow', 'ghost', 'fail'])
      .map((what: string, ctx) => {
        // What the operator's own code sees when it catches the call's error.
        try {
          if (what === 'slow') ctx.services.calc!.slow!(3000);
          else if (what === 'ghost') ctx.services.ghost!.get!('k');
          else ctx.services.calc!.fail!();
          return [what, 'no error'];
        } catch (error) {
          const e = error as Error & { code?: string; remote?: { code?: string; name: string } };
          return [what, e.name, String(e.code), String(e.remote?.code), e.message];
        }
      })
      .sink((r: string[]) => void seen.push(r));
    try {
      await env.execute();
    } finally {
      await env.close();
    }
    const by = (what: string) => seen.find((r) => r[0] === what)!;
    expect(by('slow').slice(1, 4)).toEqual(['TimeoutError', 'ERR_TIMEOUT', 'undefined']);
    expect(by('slow')[4]).toBe('call calc.slow got no answer within 300 ms');
    expect(by('ghost').slice(1, 4)).toEqual(['ServiceUnavailableError', 'ERR_SERVICE_UNAVAILABLE', 'undefined']);
    expect(by('ghost')[4]).toBe("service 'ghost' is unavailable: nobody answers on NATS subject 'ringflow.svc.ghost.get' (no responders)");
    expect(by('fail').slice(1, 5)).toEqual(['ServiceError', 'ERR_SERVICE', 'E_RANGE', 'out of range']);
  });

  it('a call past its deadline is a TimeoutError; a service nobody exposes is ServiceUnavailableError (no responders)', async () => {
    const services = new ServiceManager();
    services.registerRemote('calc', { servers: server.url, timeoutMs: 200 });
    services.registerRemote('ghost', { servers: server.url, methods: ['get'] });
    await services.start();
    try {
      await expect(services.call('calc', 'slow', [2000])).rejects.toBeInstanceOf(TimeoutError);
      await expect(services.call('calc', 'slow', [2000], { timeoutMs: 100 })).rejects.toBeInstanceOf(TimeoutError);
      const nobody = await services.call('ghost', 'get', ['k']).catch((e: unknown) => e);
      expect(nobody).toBeInstanceOf(ServiceUnavailableError);
      expect((nobody as Error).message).toContain('no responders');
      // Still fine afterwards.
      expect(await services.call('calc', 'add', [1, 1])).toBe(2);
    } finally {
      await services.stop();
    }
    // Without methods, the remote must answer discovery when services start.
    const lost = new ServiceManager();
    lost.registerRemote('ghost', { servers: server.url, timeoutMs: 300 });
    await expect(lost.start()).rejects.toBeInstanceOf(ServiceUnavailableError);
  });

  it('bad input: a server that is down, bad names and options', async () => {
    const down = new ServiceManager();
    down.registerRemote('calc', { servers: 'nats://127.0.0.1:1', connectTimeoutMs: 500 });
    await expect(down.start()).rejects.toBeInstanceOf(NatsConnectionError);
    const m = new ServiceManager();
    expect(() => m.registerRemote('a.b', { servers: server.url })).toThrow(InvalidArgumentError);
    expect(() => m.registerRemote('calc', { servers: server.url, timeout: 5 } as never)).toThrow(/unknown option 'timeout' \(valid: servers, timeoutMs/);
    expect(() => m.registerService('x', {}, { expose: {} as never })).toThrow(/servers/);
  });
});
