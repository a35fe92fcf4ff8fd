import { checkOptionKeys, InvalidArgumentError } from '../errors.js';
import { SharedRing } from '../ring/index.js';
import { ServiceCaller } from './caller.js';
import { toErrorInfo } from '../codec/index.js';
import { ServiceError, ServiceUnavailableError, thrownAsError, TimeoutError, UnknownMethodError, UnknownServiceError } from './errors.js';
import type { AnyFunction } from './methods.js';
import type { CallOptions } from './options.js';
import { isClientHandle, type ServiceClientHandle } from './protocol.js';
import { methodProxy, servicesRecord, type AsyncProxy, type SyncProxy } from './proxy.js';

export interface ServiceClientOptions {
  /** How long a call spins for its answer before parking (µs). Default: the manager's callerSpinMicros. */
  spinMicros?: number;
}

/** Runs a method of a service instance living on this thread (a host calling its own service). */
export type LocalInvoker = (method: string, args: readonly unknown[]) => unknown;

/**
 * Calls services from any thread, through a handle made by `ServiceManager.clientHandle()`:
 * the thread's own reply ring (registered with every host) and what it needs to know about each
 * service. In a worker, `callSync` and `services.<name>.<method>(...)` block until the answer is
 * there — spinning first, then parking with Atomics.wait — while `call` and `proxy` return
 * promises. A client belongs to one thread: open it where it is used.
 */
export class ServiceClient {
  /** `services.kv.get('k')`: a synchronous call (the shape operators see as `ctx.services`). */
  readonly services: Record<string, Record<string, AnyFunction>>;
  private readonly caller: ServiceCaller;
  private readonly local = new Map<string, LocalInvoker>();

  private constructor(caller: ServiceCaller) {
    this.caller = caller;
    this.services = servicesRecord(
      () => this.caller.serviceNames(),
      (name) => (this.caller.service(name) === undefined ? undefined : methodProxy((method, args) => this.callSync(name, method, args))),
    );
  }

  static connect(handle: ServiceClientHandle, options: ServiceClientOptions = {}): ServiceClient {
    if (!isClientHandle(handle)) {
      throw new InvalidArgumentError('ServiceClient.connect needs the handle made by ServiceManager.clientHandle()');
    }
    checkOptionKeys('ServiceClient.connect', options, ['spinMicros']);
    const spinMicros = options.spinMicros ?? handle.callerSpinMicros ?? 50;
    if (typeof spinMicros !== 'number' || !(spinMicros >= 0)) throw new InvalidArgumentError(`spinMicros must be a non-negative number, got ${String(spinMicros)}`);
    const caller = new ServiceCaller(SharedRing.attach(handle.replyRing), handle.replyRingId, handle.replyBell, handle.global, {
      spinMicros,
      allowBlocking: handle.allowBlockingOnMainThread === true,
    });
    for (const descriptor of handle.services) caller.addService(descriptor);
    return new ServiceClient(caller);
  }

  /** Calls `service.method(...args)`; resolves with its result. */
  call<R = unknown>(service: string, method: string, args: readonly unknown[] = [], options?: CallOptions): Promise<R> {
    const local = this.local.get(service);
    if (local !== undefined) return callLocal(service, method, args, local) as Promise<R>;
    const remote = this.caller.service(service);
    if (remote === undefined) return Promise.reject(new UnknownServiceError(service));
    return this.caller.call(remote, method, args, options) as Promise<R>;
  }

  /** Calls `service.method(...args)` and blocks until the result is there (worker threads). */
  callSync<R = unknown>(service: string, method: string, args: readonly unknown[] = [], options?: CallOptions): R {
    const local = this.local.get(service);
    if (local !== undefined) return invokeLocal(service, method, args, local) as R;
    const remote = this.caller.service(service);
    if (remote === undefined) throw new UnknownServiceError(service);
    return this.caller.callSync(remote, method, args, options) as R;
  }

  /** `proxy<Kv>('kv').get('k')` → a promise. */
  proxy<T>(service: string): AsyncProxy<T> {
    if (this.caller.service(service) === undefined && !this.local.has(service)) throw new UnknownServiceError(service);
    return methodProxy((method, args) => this.call(service, method, args)) as AsyncProxy<T>;
  }

  /** `syncProxy<Kv>('kv').get('k')` → the result (blocking). */
  syncProxy<T>(service: string): SyncProxy<T> {
    if (this.caller.service(service) === undefined && !this.local.has(service)) throw new UnknownServiceError(service);
    return methodProxy((method, args) => this.callSync(service, method, args)) as SyncProxy<T>;
  }

  /** Responses that arrived for calls nobody waited for any more (after a timeout or abort), dropped. */
  get droppedResponses(): number {
    return this.caller.droppedResponses;
  }

  /** Calls from this thread waiting for an answer. */
  get inFlight(): number {
    return this.caller.inFlight();
  }

  /**
   * Routes calls to `service` to an instance on this thread (a host calling its own service:
   * through the ring it would wait for itself).
   */
  bindLocal(service: string, invoke: LocalInvoker): void {
    this.local.set(service, invoke);
  }

  /** Fails the calls in flight with ServiceUnavailableError and refuses new ones. */
  close(): void {
    this.caller.close();
  }
}

function invokeLocal(service: string, method: string, args: readonly unknown[], invoke: LocalInvoker): unknown {
  if (!Array.isArray(args)) throw new InvalidArgumentError(`a call's arguments must be an array, got ${typeof args}`);
  try {
    return invoke(method, args);
  } catch (error) {
    throw wrapLocalError(service, method, error);
  }
}

async function callLocal(service: string, method: string, args: readonly unknown[], invoke: LocalInvoker): Promise<unknown> {
  try {
    return await invokeLocal(service, method, args, invoke);
  } catch (error) {
    throw wrapLocalError(service, method, error);
  }
}

/** What a local call throws: UnknownMethodError as is, anything the method threw as a ServiceError (the original as `cause`). */
export function wrapLocalError(service: string, method: string, error: unknown): unknown {
  if (error instanceof UnknownMethodError || error instanceof ServiceError || error instanceof InvalidArgumentError) return error;
  // A bridge to a remote service (registerRemote) fails a call as the runtime would: unavailable, or late.
  if (error instanceof ServiceUnavailableError || error instanceof TimeoutError) return error;
  return new ServiceError(service, method, toErrorInfo(thrownAsError(error)), { cause: error });
}
