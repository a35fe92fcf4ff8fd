import { checkOptionKeys, InvalidArgumentError } from '../errors.js';
import { isOpRef, type OpRef } from '../pool/op.js';

export type Placement = 'local' | 'worker';

export interface RegisterServiceOptions {
  /** Where the instance runs: `local` (this thread; calls pass values by reference) or `worker` (a pool thread). Default: `worker` for an `op()` reference, `local` otherwise. */
  placement?: Placement;
  /** Worker placement: how many instances (threads), each with its own request ring; calls go round-robin. Default 1. */
  instances?: number;
  /** Crashes recovered (the instance restarted) before the service is marked failed. Default 3. */
  maxRestarts?: number;
  /**
   * Requests an instance may hold: queued, or in the batch its host is running (a batch's places are
   * given back once the batch has been answered; an async method's once it has started). Default 4096.
   */
  requestQueueSize?: number;
  /** A call that finds the queue full waits for room (`wait`, the default) or fails at once with ServiceQueueFullError (`fail`). */
  whenFull?: 'wait' | 'fail';
  /** Default deadline of a call, in ms (a call's own `timeoutMs` overrides it). Default 30 000; Infinity for none. */
  timeoutMs?: number;
  /** Passed to the class constructor / factory as its first argument (structured-cloned for worker placement). */
  options?: unknown;
  /** Bytes of each request ring (a power of two, at least 1024). Default 1 MiB. A request must fit in half. */
  ringCapacity?: number;
  /** How long a worker host spins for the next request before it parks (µs). Default 200. */
  spinMicros?: number;
  /**
   * Worker placement: an instance whose heartbeat has stopped for this long (ms) while a call to
   * it went past its deadline is declared hung: its worker is terminated and replaced (counting
   * against maxRestarts), its calls in flight fail with ServiceUnavailableError. A host beats
   * between requests and every 50 ms under load, so only a method that holds its thread this
   * long stops the beat. Default 5000; Infinity never declares an instance hung.
   */
  hangAfterMs?: number;
  /** Also answer calls from other processes and boxes, over NATS request/reply (with the NATS services API's discovery and stats). */
  expose?: ExposeOptions;
}

export interface ExposeOptions {
  /** NATS server URL(s) to answer on. */
  servers: string | string[];
  /** Version announced by discovery. Default '0.1.0'. */
  version?: string;
  /** Budget of the first connect (ms). Default 5000. */
  connectTimeoutMs?: number;
}

/** A service another process exposes (`expose`), called over NATS: see ServiceManager.registerRemote. */
export interface RemoteServiceOptions {
  servers: string | string[];
  /** Deadline of a call (ms), unless the call gives its own. Default 30 000. */
  timeoutMs?: number;
  /** The remote's methods; default: what its discovery metadata lists (it must then answer when the services start). */
  methods?: string[];
  /** Budget of the first connect (ms). Default 5000. */
  connectTimeoutMs?: number;
}

export interface ResolvedRemoteOptions {
  servers: string[];
  timeoutMs: number;
  methods: string[] | undefined;
  connectTimeoutMs: number | undefined;
}

export interface ResolvedServiceOptions {
  placement: Placement;
  instances: number;
  maxRestarts: number;
  requestQueueSize: number;
  whenFull: 'wait' | 'fail';
  timeoutMs: number;
  options: unknown;
  ringCapacity: number;
  spinMicros: number;
  hangAfterMs: number;
  expose: (Omit<ExposeOptions, 'servers'> & { servers: string[] }) | undefined;
}

export interface ServiceManagerOptions {
  /** Bytes of each caller thread's reply ring (a power of two). Default 1 MiB. */
  replyRingCapacity?: number;
  /** Let `callSync` block the main thread (it throws BlockingOnMainThreadError otherwise). Default false. */
  allowBlockingOnMainThread?: boolean;
  /** How long a caller spins for responses before it parks (µs); on the main thread this holds the event loop that long at most. Default 50. */
  callerSpinMicros?: number;
  /** How long `stop()` waits for in-flight calls before it ends them with ServiceUnavailableError (ms). Default 10 000. */
  stopGraceMs?: number;
}

export interface ResolvedManagerOptions {
  replyRingCapacity: number;
  allowBlockingOnMainThread: boolean;
  callerSpinMicros: number;
  stopGraceMs: number;
}

const SERVICE_OPTION_KEYS = [
  'placement',
  'instances',
  'maxRestarts',
  'requestQueueSize',
  'whenFull',
  'timeoutMs',
  'options',
  'ringCapacity',
  'spinMicros',
  'hangAfterMs',
  'expose',
] as const;
const MANAGER_OPTION_KEYS = ['replyRingCapacity', 'allowBlockingOnMainThread', 'callerSpinMicros', 'stopGraceMs'] as const;

const NAME = /^[A-Za-z_$][\w$.-]*$/;

export function validateServiceName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name) || name.length > 200) {
    throw new InvalidArgumentError(
      `a service name must be a non-empty string of letters, digits, '_', '$', '.', '-' starting with a letter, '_' or '$'; got ${describe(name)}`,
    );
  }
  return name;
}

/** Checks what registerService was given: a class, a factory function, an object (local only), or an op() reference. */
export function validateTarget(name: string, target: unknown, placement: Placement): void {
  if (placement === 'worker') {
    if (!isOpRef(target)) {
      throw new InvalidArgumentError(
        `service '${name}': worker placement needs op(moduleUrl, exportName) — a function or object cannot be sent to another thread`,
      );
    }
    return;
  }
  if (!isOpRef(target) && typeof target !== 'function' && (typeof target !== 'object' || target === null)) {
    throw new InvalidArgumentError(`service '${name}': expected a class, a factory function, an object or op(moduleUrl, exportName); got ${describe(target)}`);
  }
}

export function resolveServiceOptions(name: string, target: unknown, options: RegisterServiceOptions | undefined): ResolvedServiceOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`service '${name}': options must be an object, got ${describe(options)}`);
  }
  const o = options ?? {};
  checkOptionKeys(`service '${name}'`, o, SERVICE_OPTION_KEYS);
  const placement = o.placement ?? (isOpRef(target) ? 'worker' : 'local');
  if (placement !== 'local' && placement !== 'worker') {
    throw new InvalidArgumentError(`service '${name}': placement must be 'local' or 'worker', got ${describe(placement)}`);
  }
  const instances = integer(name, 'instances', o.instances ?? 1, 1, 256);
  if (placement === 'local' && instances !== 1) {
    throw new InvalidArgumentError(`service '${name}': a local service has exactly one instance, got instances: ${instances}`);
  }
  const whenFull = o.whenFull ?? 'wait';
  if (whenFull !== 'wait' && whenFull !== 'fail') {
    throw new InvalidArgumentError(`service '${name}': whenFull must be 'wait' or 'fail', got ${describe(whenFull)}`);
  }
  const ringCapacity = o.ringCapacity ?? 1 << 20;
  if (!Number.isInteger(ringCapacity) || ringCapacity < 1024 || ringCapacity > 1 << 30 || (ringCapacity & (ringCapacity - 1)) !== 0) {
    throw new InvalidArgumentError(`service '${name}': ringCapacity must be a power of two from 1024 to 2^30 bytes, got ${describe(ringCapacity)}`);
  }
  validateTarget(name, target, placement);
  return {
    placement,
    instances,
    maxRestarts: integer(name, 'maxRestarts', o.maxRestarts ?? 3, 0, 1_000_000),
    requestQueueSize: integer(name, 'requestQueueSize', o.requestQueueSize ?? 4096, 1, 1 << 30),
    whenFull,
    timeoutMs: timeout(`service '${name}': timeoutMs`, o.timeoutMs ?? 30_000),
    options: o.options,
    ringCapacity,
    spinMicros: nonNegative(`service '${name}': spinMicros`, o.spinMicros ?? 200),
    hangAfterMs: timeout(`service '${name}': hangAfterMs`, o.hangAfterMs ?? 5000),
    expose: o.expose === undefined ? undefined : resolveExpose(name, o.expose),
  };
}

export function resolveManagerOptions(options: ServiceManagerOptions | undefined): ResolvedManagerOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`ServiceManager options must be an object, got ${describe(options)}`);
  }
  const o = options ?? {};
  checkOptionKeys('ServiceManager', o, MANAGER_OPTION_KEYS);
  const replyRingCapacity = o.replyRingCapacity ?? 1 << 20;
  if (!Number.isInteger(replyRingCapacity) || replyRingCapacity < 1024 || replyRingCapacity > 1 << 30 || (replyRingCapacity & (replyRingCapacity - 1)) !== 0) {
    throw new InvalidArgumentError(`ServiceManager: replyRingCapacity must be a power of two from 1024 to 2^30 bytes, got ${describe(replyRingCapacity)}`);
  }
  if (o.allowBlockingOnMainThread !== undefined && typeof o.allowBlockingOnMainThread !== 'boolean') {
    throw new InvalidArgumentError(`ServiceManager: allowBlockingOnMainThread must be a boolean, got ${describe(o.allowBlockingOnMainThread)}`);
  }
  return {
    replyRingCapacity,
    allowBlockingOnMainThread: o.allowBlockingOnMainThread ?? false,
    callerSpinMicros: nonNegative('ServiceManager: callerSpinMicros', o.callerSpinMicros ?? 50),
    stopGraceMs: timeout('ServiceManager: stopGraceMs', o.stopGraceMs ?? 10_000),
  };
}

/** A NATS services API name: letters, digits, '_' and '-'. */
const NATS_SERVICE_NAME = /^[-\w]+$/;

function natsServers(what: string, servers: unknown): string[] {
  const list = typeof servers === 'string' ? servers.split(',').map((s) => s.trim()) : servers;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new InvalidArgumentError(`${what}: servers must be a URL such as 'nats://127.0.0.1:4222' or a non-empty list of them`);
  }
  return list as string[];
}

function knownKeys(what: string, options: unknown, keys: string[]): Record<string, unknown> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${what} needs an options object with servers`);
  checkOptionKeys(what, options, keys);
  return options as Record<string, unknown>;
}

function resolveExpose(name: string, expose: unknown): ResolvedServiceOptions['expose'] {
  const o = knownKeys(`service '${name}': expose`, expose, ['servers', 'version', 'connectTimeoutMs']);
  if (!NATS_SERVICE_NAME.test(name)) throw new InvalidArgumentError(`service '${name}': an exposed service's name may hold only letters, digits, '_' and '-'`);
  const connectTimeoutMs = o.connectTimeoutMs === undefined ? undefined : timeout(`service '${name}': expose.connectTimeoutMs`, o.connectTimeoutMs);
  return { servers: natsServers(`service '${name}': expose`, o.servers), version: o.version === undefined ? '0.1.0' : String(o.version), connectTimeoutMs };
}

export function resolveRemoteOptions(name: string, options: unknown): ResolvedRemoteOptions {
  const what = `registerRemote('${name}')`;
  const o = knownKeys(what, options, ['servers', 'timeoutMs', 'methods', 'connectTimeoutMs']);
  if (!NATS_SERVICE_NAME.test(name)) throw new InvalidArgumentError(`${what}: a remote service's name may hold only letters, digits, '_' and '-'`);
  const methods = o.methods;
  if (methods !== undefined && !(Array.isArray(methods) && methods.every((m) => typeof m === 'string' && m.length > 0 && m[0] !== '_'))) {
    throw new InvalidArgumentError(`${what}: methods must be a list of method names`);
  }
  return {
    servers: natsServers(what, o.servers),
    timeoutMs: timeout(`${what}: timeoutMs`, o.timeoutMs ?? 30_000),
    methods: methods as string[] | undefined,
    connectTimeoutMs: o.connectTimeoutMs === undefined ? undefined : timeout(`${what}: connectTimeoutMs`, o.connectTimeoutMs),
  };
}

/** Per-call options. */
export interface CallOptions {
  /** Deadline of this call in ms (overrides the service's timeoutMs). */
  timeoutMs?: number;
  /** Aborting it rejects the call with the signal's reason; a late answer is dropped. */
  signal?: AbortSignal;
}

export function validateCallOptions(options: CallOptions | undefined): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`call options must be an object, got ${describe(options)}`);
  if (options.timeoutMs !== undefined) timeout('timeoutMs', options.timeoutMs);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(`signal must be an AbortSignal, got ${describe(options.signal)}`);
  }
}

function integer(name: string, key: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`service '${name}': ${key} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function timeout(what: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new InvalidArgumentError(`${what} must be a positive number of milliseconds (or Infinity), got ${describe(value)}`);
  }
  return value;
}

function nonNegative(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`${what} must be a non-negative number, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export type { OpRef };
