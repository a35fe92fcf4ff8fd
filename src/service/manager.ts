import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from '../errors.js';
import { SharedRing } from '../ring/index.js';
import { wake, wakeAll, type ParkingSpot } from '../sync/index.js';
import type { BaseServiceTask, ServiceStatus, TaskRuntime } from './base-task.js';
import { ServiceCaller } from './caller.js';
import { wrapLocalError } from './client.js';
import { ServiceUnavailableError, TimeoutError, UnknownMethodError, UnknownServiceError } from './errors.js';
import { LocalServiceTask } from './local-task.js';
import type { AnyFunction } from './methods.js';
import { MiddlewareChain, type CallInfo, type ServiceMiddleware } from './middleware.js';
import type { Exposure } from './nats-remote.js';
import {
  resolveManagerOptions,
  resolveRemoteOptions,
  type RemoteServiceOptions,
  validateCallOptions,
  type CallOptions,
  type RegisterServiceOptions,
  type ResolvedManagerOptions,
  type ServiceManagerOptions,
} from './options.js';
import { bellAt, createBell, G_DROPPED_RESPONSES, GLOBAL_WORDS, INSTANCE_DOWN_FRAME, type ServiceClientHandle } from './protocol.js';
import { methodProxy, servicesRecord, type AsyncProxy } from './proxy.js';
import { ServiceRegistry } from './registry.js';
import type { RemoteService } from './remote-service.js';

type Phase = 'idle' | 'starting' | 'started' | 'stopping' | 'stopped';

/**
 * Services registered once and called from anywhere: this thread (`call`, `proxy`, `callSync`
 * where blocking is allowed), worker threads (`clientHandle()` → `ServiceClient.connect`),
 * operators (`ctx.services.<name>.<method>()`) and other services.
 *
 * Local services run on this thread and are called directly. Worker services run in pool
 * workers; a call encodes a FlatBuffers ServiceRequest straight into a frame of the instance's
 * request ring, and the answer comes back on the calling thread's reply ring, matched by
 * correlation id. Many calls may be in flight: one reader per thread settles them all.
 */
/** How much later than a remote call's NATS request the local hop to its proxy gives up. */
const REMOTE_DEADLINE_MARGIN_MS = 1000;

export class ServiceManager {
  private readonly options: ResolvedManagerOptions;
  private readonly registry = new ServiceRegistry();
  private readonly chain = new MiddlewareChain();
  private readonly global = new SharedArrayBuffer(GLOBAL_WORDS * 4);
  private readonly globalWords = new Int32Array(this.global);
  /** Every reply ring (this thread's, clients', hosts' own clients'), with its reader's doorbell. */
  private readonly replyRings = new Map<number, { ring: SharedRing; bellBuffer: SharedArrayBuffer; bell: ParkingSpot }>();
  private readonly remotes = new Map<string, RemoteService>();
  private readonly starts = new Map<string, Promise<void>>();
  private readonly localInFlight = new Map<string, number>();
  private localIdle: (() => void)[] = [];
  private nextReplyRingId = 1;
  private caller: ServiceCaller | null = null;
  private phase: Phase = 'idle';
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private readonly runtime: TaskRuntime;
  /** Services answering over NATS too (`expose`), by name. */
  private readonly exposures = new Map<string, Promise<Exposure>>();
  /** `services.kv.get('k')` → a promise: the manager's services as objects. */
  readonly services: Record<string, Record<string, AnyFunction>>;

  constructor(options?: ServiceManagerOptions) {
    this.options = resolveManagerOptions(options);
    this.services = servicesRecord(
      () => this.registry.names(),
      (name) => (this.registry.has(name) ? methodProxy((method, args) => this.call(name, method, args)) : undefined),
    );
    this.runtime = {
      replyRings: () => [...this.replyRings].map(([id, r]) => [id, r.ring.buffer, r.bellBuffer] as const),
      newClient: () => this.newClient(),
      instanceDown: (serviceId, instance, epoch, reason) => this.instanceDown(serviceId, instance, epoch, reason),
      mainThreadServices: this.services,
    };
  }

  // ------------------------------------------------------------------ registration

  /**
   * Registers a service: a class (made with `new Class(options.options, context)`), a factory
   * function (`factory(options.options, context)`, may be async), an object (local only), or
   * `op(moduleUrl, exportName)` naming one of those in a module (needed for worker placement).
   * Options are checked here, with clear errors. Registered after start(), it starts at once.
   */
  registerService(name: string, target: unknown, options?: RegisterServiceOptions): this {
    if (this.phase === 'stopping' || this.phase === 'stopped') throw new InvalidArgumentError('the ServiceManager is stopped');
    const task = this.registry.register(name, target, options);
    if (this.phase === 'started' || this.phase === 'starting') {
      const started = (this.starting ?? Promise.resolve()).then(() => this.startTask(task));
      started.then(
        () => this.starts.delete(task.name),
        () => undefined, // calls see the failure (the service's state says failed)
      );
      this.starts.set(task.name, started);
    }
    return this;
  }

  /**
   * Registers a service that another process exposes over NATS (`registerService(…, { expose:
   * { servers } })`): called with the same `call`, `proxy` and, from operators, `ctx.services`.
   * A call that nobody answers fails with ServiceUnavailableError, one past its deadline with
   * TimeoutError; what the remote method threw comes back as a ServiceError.
   */
  registerRemote(name: string, options: RemoteServiceOptions): this {
    const resolved = resolveRemoteOptions(name, options);
    const connect = async () => (await import('./nats-remote.js')).remoteInstance(name, resolved);
    // The local hop's deadline is later than the NATS request's, so a remote that does not answer
    // comes back as the request's TimeoutError (an answer) rather than as an overdue local call.
    return this.registerService(name, connect, { placement: 'local', timeoutMs: resolved.timeoutMs + REMOTE_DEADLINE_MARGIN_MS });
  }

  /** Adds middleware around calls made through this manager (see ServiceMiddleware). */
  use(middleware: ServiceMiddleware): this {
    this.chain.use(middleware);
    return this;
  }

  has(name: string): boolean {
    return this.registry.has(name);
  }

  names(): string[] {
    return this.registry.names();
  }

  // ------------------------------------------------------------------ lifecycle

  /** Starts every registered service; resolves when all are ready. Idempotent. */
  start(): Promise<void> {
    if (this.phase === 'started') return Promise.resolve();
    if (this.phase === 'stopping' || this.phase === 'stopped') {
      return Promise.reject(new InvalidArgumentError('a stopped ServiceManager cannot be started again'));
    }
    if (this.starting !== null) return this.starting;
    this.phase = 'starting';
    this.starting = this.startAll();
    return this.starting;
  }

  private async startAll(): Promise<void> {
    const { id, ring, bellBuffer } = this.newReplyRing();
    this.caller = new ServiceCaller(ring, id, bellBuffer, this.global, {
      spinMicros: this.options.callerSpinMicros,
      allowBlocking: this.options.allowBlockingOnMainThread,
    });
    const tasks = this.registry.all();
    for (const task of tasks) this.remotes.set(task.name, this.caller.addService(task.descriptor()));
    try {
      // Local ones first: worker hosts' clients register reply rings with them.
      const local = tasks.filter((t) => t instanceof LocalServiceTask);
      const worker = tasks.filter((t) => !(t instanceof LocalServiceTask));
      for (const task of [...local, ...worker]) await task.setup(this.runtime);
      await Promise.all(tasks.map((task) => task.start().then(() => this.learnMethods(task))));
      this.phase = 'started';
      await Promise.all(tasks.map((task) => this.expose(task)));
    } catch (error) {
      this.phase = 'stopping';
      await this.shutdown(0);
      this.phase = 'stopped';
      throw error;
    }
  }

  private async startTask(task: BaseServiceTask): Promise<void> {
    this.remotes.set(task.name, this.caller!.addService(task.descriptor()));
    await task.setup(this.runtime);
    for (const [id, r] of this.replyRings) await task.addReplyRing(id, r.ring.buffer, r.bellBuffer);
    await task.start();
    this.learnMethods(task);
    await this.expose(task);
  }

  /** Makes a service with `expose` answer over NATS (its calls go through `call`, as local ones do). */
  private async expose(task: BaseServiceTask): Promise<void> {
    const expose = task.options.expose;
    if (expose === undefined) return;
    const exposing = import('./nats-remote.js').then((m) =>
      m.exposeService(task.name, task.methods, expose, (method, args) => this.call(task.name, method, args), () => this.status(task.name)),
    );
    this.exposures.set(task.name, exposing);
    await exposing;
  }

  private learnMethods(task: BaseServiceTask): void {
    const methods = task.methods;
    if (methods !== null) this.remotes.get(task.name)?.setMethods(methods);
  }

  /**
   * Stops taking calls, waits for the calls in flight (up to `stopGraceMs`; then they fail with
   * ServiceUnavailableError), lets every host answer what is queued, and ends the workers.
   * Idempotent; before start() it does nothing.
   */
  stop(): Promise<void> {
    if (this.phase === 'idle' || this.phase === 'stopped') return this.stopping ?? Promise.resolve();
    if (this.stopping !== null) return this.stopping;
    if (this.phase === 'started') this.phase = 'stopping'; // refuse new calls from now on
    this.stopping = (async () => {
      await this.starting?.catch(() => undefined);
      if (this.phase === 'stopped') return;
      this.phase = 'stopping';
      await this.shutdown(this.options.stopGraceMs);
      this.phase = 'stopped';
    })();
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    // No calls from other processes from now on.
    await Promise.all([...this.exposures.values()].map((e) => e.then((x) => x.stop()).catch(() => undefined)));
    this.exposures.clear();
    await Promise.all([...this.starts.values()].map((p) => p.catch(() => undefined)));
    for (const task of this.registry.all()) task.beginDrain();
    const caller = this.caller;
    const drained = Promise.all([caller?.whenIdle(), this.whenLocalIdle()]).then(() => true);
    const inTime = graceMs > 0 && (await Promise.race([drained, sleep(graceMs, false, { ref: false })]));
    if (!inTime) caller?.failCalls((call) => new ServiceUnavailableError(call.service, 'the ServiceManager stopped before it answered'));
    const tasks = this.registry.all();
    const started = performance.now();
    await Promise.all(tasks.map((task) => task.stop(Math.max(0, graceMs - (performance.now() - started))).catch(() => undefined)));
    await Promise.all(tasks.map((task) => task.cleanup().catch(() => undefined)));
    caller?.close('the ServiceManager is stopped');
    for (const r of this.replyRings.values()) {
      r.ring.close();
      wakeAll(r.bell);
    }
    this.replyRings.clear();
  }

  // ------------------------------------------------------------------ calls

  /** Calls `service.method(...args)`; resolves with the result. */
  call<R = unknown>(service: string, method: string, args: readonly unknown[] = [], options?: CallOptions): Promise<R> {
    const task = this.registry.get(service);
    if (task === undefined) return Promise.reject(new UnknownServiceError(service));
    if (this.phase !== 'started') return Promise.reject(this.notRunning(service));
    if (this.starts.size > 0) {
      const late = this.starts.get(service);
      if (late !== undefined) return late.then(() => this.call<R>(service, method, args, options));
    }
    if (this.chain.empty) return this.dispatch(task, method, args, options) as Promise<R>;
    const info: CallInfo = { service, method, args: Array.isArray(args) ? [...args] : (args as unknown[]), placement: task.placement };
    return this.chain.run(info, (c) => this.dispatch(task, c.method, c.args, options)) as Promise<R>;
  }

  private dispatch(task: BaseServiceTask, method: string, args: readonly unknown[], options: CallOptions | undefined): Promise<unknown> {
    if (task instanceof LocalServiceTask) return this.callLocal(task, method, args, options);
    return this.caller!.call(this.remotes.get(task.name)!, method, args, options);
  }

  /** A local call: the method runs here and now, with the caller's own values. */
  private callLocal(task: LocalServiceTask, method: string, args: readonly unknown[], options: CallOptions | undefined): Promise<unknown> {
    let result: unknown;
    const started = performance.now();
    try {
      if (options !== undefined) {
        validateCallOptions(options);
        if (options.signal?.aborted) throw options.signal.reason;
      }
      if (!Array.isArray(args)) throw new InvalidArgumentError(`a call's arguments must be an array, got ${typeof args}`);
      if (task.state !== 'running') throw new ServiceUnavailableError(task.name, `it is ${task.state}`);
      result = task.invoke(method, args);
    } catch (error) {
      if (isAbort(options, error)) return Promise.reject(error);
      if (!(error instanceof UnknownMethodError || error instanceof InvalidArgumentError || error instanceof ServiceUnavailableError)) {
        task.countRequest(true);
      }
      return Promise.reject(wrapLocalError(task.name, method, error));
    }
    if (!isThenable(result)) {
      task.countRequest(false);
      task.histogram.record((performance.now() - started) * 1000);
      return Promise.resolve(result);
    }
    return this.awaitLocal(task, method, result, started, options);
  }

  private async awaitLocal(task: LocalServiceTask, method: string, result: PromiseLike<unknown>, started: number, options: CallOptions | undefined): Promise<unknown> {
    this.localInFlight.set(task.name, (this.localInFlight.get(task.name) ?? 0) + 1);
    try {
      const value = await withDeadline(Promise.resolve(result), options?.timeoutMs ?? task.options.timeoutMs, options?.signal, task.name, method);
      task.countRequest(false);
      task.histogram.record((performance.now() - started) * 1000);
      return value;
    } catch (error) {
      if (!(error instanceof TimeoutError) && !isAbort(options, error)) task.countRequest(true);
      throw error instanceof TimeoutError || isAbort(options, error) ? error : wrapLocalError(task.name, method, error);
    } finally {
      const n = this.localInFlight.get(task.name)! - 1;
      if (n === 0) this.localInFlight.delete(task.name);
      else this.localInFlight.set(task.name, n);
      if (this.localInFlight.size === 0) {
        const waiters = this.localIdle;
        this.localIdle = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  private whenLocalIdle(): Promise<void> {
    if (this.localInFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.localIdle.push(resolve));
  }

  /**
   * Calls and blocks until the answer is there. Meant for worker threads; on the main thread a
   * worker service refuses it (BlockingOnMainThreadError) unless `allowBlockingOnMainThread` was
   * set. A local service's method runs in place (it must not return a promise).
   */
  callSync<R = unknown>(service: string, method: string, args: readonly unknown[] = [], options?: CallOptions): R {
    const task = this.registry.get(service);
    if (task === undefined) throw new UnknownServiceError(service);
    if (this.phase !== 'started' || this.starts.has(service)) throw this.notRunning(service);
    const run = (m: string, a: readonly unknown[]): unknown => {
      if (task instanceof LocalServiceTask) return this.callLocalSync(task, m, a, options);
      return this.caller!.callSync(this.remotes.get(task.name)!, m, a, options);
    };
    if (this.chain.empty) return run(method, args) as R;
    const info: CallInfo = { service, method, args: Array.isArray(args) ? [...args] : (args as unknown[]), placement: task.placement };
    return this.chain.runSync(info, (c) => run(c.method, c.args)) as R;
  }

  private callLocalSync(task: LocalServiceTask, method: string, args: readonly unknown[], options: CallOptions | undefined): unknown {
    if (options !== undefined) validateCallOptions(options);
    if (options?.signal?.aborted) throw options.signal.reason;
    if (!Array.isArray(args)) throw new InvalidArgumentError(`a call's arguments must be an array, got ${typeof args}`);
    if (task.state !== 'running') throw new ServiceUnavailableError(task.name, `it is ${task.state}`);
    const started = performance.now();
    let result: unknown;
    try {
      result = task.invoke(method, args);
    } catch (error) {
      if (!(error instanceof UnknownMethodError)) task.countRequest(true);
      throw wrapLocalError(task.name, method, error);
    }
    if (isThenable(result)) {
      throw new InvalidArgumentError(`${task.name}.${method} returned a promise, which callSync cannot wait for on this thread; use call()`);
    }
    task.countRequest(false);
    task.histogram.record((performance.now() - started) * 1000);
    return result;
  }

  /** `proxy<Kv>('kv').get('k')` → a promise of the result. */
  proxy<T>(service: string): AsyncProxy<T> {
    if (!this.registry.has(service)) throw new UnknownServiceError(service);
    return methodProxy((method, args) => this.call(service, method, args)) as AsyncProxy<T>;
  }

  // ------------------------------------------------------------------ other threads

  /**
   * A handle for another thread to call the services with `ServiceClient.connect(handle)`: it
   * makes that thread's reply ring and registers it with every host first. Services registered
   * later are not in it. Release it with `releaseClient(handle)` when the thread is done.
   */
  async clientHandle(): Promise<ServiceClientHandle> {
    if (this.phase === 'stopping' || this.phase === 'stopped') throw new InvalidArgumentError('the ServiceManager is stopped');
    await Promise.all([...this.starts.values()].map((p) => p.catch(() => undefined)));
    return this.newClient();
  }

  /** Forgets a client's reply ring (hosts stop answering into it) and closes it. */
  async releaseClient(handle: ServiceClientHandle): Promise<void> {
    const entry = this.replyRings.get(handle?.replyRingId);
    if (entry === undefined || entry.ring.buffer !== handle.replyRing) return;
    this.replyRings.delete(handle.replyRingId);
    await Promise.all(this.registry.all().map((task) => task.removeReplyRing(handle.replyRingId)));
    entry.ring.close();
    wakeAll(entry.bell);
  }

  private newReplyRing(): { id: number; ring: SharedRing; bellBuffer: SharedArrayBuffer } {
    const id = this.nextReplyRingId++;
    const ring = SharedRing.create({ capacity: this.options.replyRingCapacity, multiProducer: true });
    const bellBuffer = createBell();
    this.replyRings.set(id, { ring, bellBuffer, bell: bellAt(new Int32Array(bellBuffer), 0) });
    return { id, ring, bellBuffer };
  }

  private async newClient(): Promise<ServiceClientHandle> {
    const { id, ring, bellBuffer } = this.newReplyRing();
    await Promise.all(this.registry.all().map((task) => task.addReplyRing(id, ring.buffer, bellBuffer)));
    return {
      kind: 'ringflow.services',
      replyRingId: id,
      replyRing: ring.buffer,
      replyBell: bellBuffer,
      global: this.global,
      services: this.registry.all().map((task) => task.descriptor()),
      allowBlockingOnMainThread: this.options.allowBlockingOnMainThread,
      callerSpinMicros: this.options.callerSpinMicros,
    };
  }

  /** Writes an INSTANCE_DOWN frame into every reply ring: each thread fails its calls to that instance. */
  private instanceDown(serviceId: number, instance: number, epoch: number, reason: number): void {
    const payload = new Uint8Array(new Int32Array([serviceId, instance, epoch, reason]).buffer);
    for (const { ring, bell } of this.replyRings.values()) {
      try {
        if (ring.tryWrite(payload, INSTANCE_DOWN_FRAME)) wake(bell);
        else ring.writeAsync(payload, INSTANCE_DOWN_FRAME).then(() => wake(bell), () => undefined);
      } catch {
        // a closed ring: its thread is gone
      }
    }
  }

  // ------------------------------------------------------------------ status

  /** State, counters, latency percentiles and heartbeat of a service. */
  status(service: string): ServiceStatus {
    const task = this.registry.get(service);
    if (task === undefined) throw new UnknownServiceError(service);
    const inFlight = (this.caller?.inFlight(task.id) ?? 0) + (this.localInFlight.get(service) ?? 0);
    const status = task.status(inFlight);
    if (task instanceof LocalServiceTask && status.state === 'running') status.lastHeartbeat = Math.max(status.lastHeartbeat, Date.now());
    return status;
  }

  /** Responses that arrived, on any thread, for calls nobody waited for any more (late answers), dropped. */
  get droppedResponses(): number {
    return Atomics.load(this.globalWords, G_DROPPED_RESPONSES);
  }

  get state(): Phase {
    return this.phase;
  }

  private notRunning(service: string): ServiceUnavailableError {
    const why =
      this.phase === 'idle' || this.phase === 'starting'
        ? 'the ServiceManager is not started (await start() first)'
        : this.phase === 'stopping'
          ? 'the ServiceManager is stopping'
          : 'the ServiceManager is stopped';
    return new ServiceUnavailableError(service, why);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function isAbort(options: CallOptions | undefined, error: unknown): boolean {
  return options?.signal !== undefined && options.signal.aborted && error === options.signal.reason;
}

/** Races a local async call against its deadline and abort signal. */
function withDeadline(promise: Promise<unknown>, timeoutMs: number, signal: AbortSignal | undefined, service: string, method: string): Promise<unknown> {
  if (timeoutMs === Infinity && signal === undefined) return promise;
  return new Promise((resolve, reject) => {
    const timer =
      timeoutMs === Infinity ? null : setTimeout(() => done(reject, new TimeoutError(`call ${service}.${method} got no answer within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => done(reject, signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    function done(settle: (v: never) => void, value: unknown): void {
      if (timer !== null) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle(value as never);
    }
    promise.then(
      (value) => done(resolve as (v: never) => void, value),
      (error) => done(reject, error),
    );
  });
}
