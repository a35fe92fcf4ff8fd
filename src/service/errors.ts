import { UnserializableValueError, type ErrorInfo } from '../codec/index.js';
import { RingflowError } from '../errors.js';

export { TimeoutError, BlockingOnMainThreadError, InvalidArgumentError } from '../errors.js';

/** What a remote failure carried across: the original error's code, name, message and stack. */
export type RemoteErrorInfo = ErrorInfo;

/**
 * A service method threw (or rejected). `code` is `ERR_SERVICE`; what was thrown is on `remote`
 * (its `code` — undefined when it had none —, `name`, `message`, `stack`), the message is the
 * remote message, and the stack shows the remote frames under this one's.
 */
export class ServiceError extends RingflowError {
  readonly service: string;
  readonly method: string;
  readonly remote: { readonly code: string | undefined; readonly name: string; readonly message: string; readonly stack: string };
  constructor(service: string, method: string, info: RemoteErrorInfo, options?: ErrorOptions) {
    super('ERR_SERVICE', info.message, options);
    this.service = service;
    this.method = method;
    this.remote = Object.freeze({ code: info.code === '' ? undefined : info.code, name: info.name, message: info.message, stack: info.stack });
    const local = (this.stack ?? '').split('\n').slice(1).join('\n');
    this.stack = `${this.name}: ${info.message} (from ${service}.${method})\n${local}\n--- remote ${info.name} ---\n${info.stack}`;
  }

  /** The remote error's code, if it had one. */
  get remoteCode(): string | undefined {
    return this.remote.code;
  }

  get remoteStack(): string {
    return this.remote.stack;
  }
}

/**
 * What a method threw, as the codec can carry it: an Error as it is; a plain object with a
 * string `message` or `code` (`throw { code, message }`) as an Error with that code, message
 * and name (so the caller's ServiceError carries them, not "[object Object]"); anything else as
 * it is (the codec writes its String()).
 */
export function thrownAsError(thrown: unknown): unknown {
  if (thrown instanceof Error || typeof thrown !== 'object' || thrown === null) return thrown;
  try {
    const { code, message, name } = thrown as { code?: unknown; message?: unknown; name?: unknown };
    const hasCode = typeof code === 'string' || typeof code === 'number';
    if (typeof message !== 'string' && !hasCode) return thrown;
    const error = new Error(typeof message === 'string' ? message : `a ${String(code)} error`);
    error.name = typeof name === 'string' ? name : 'Error';
    error.stack = '';
    if (hasCode) (error as Error & { code?: string }).code = String(code);
    return error;
  } catch {
    return thrown; // a getter that throws: the codec's safe String() path
  }
}

/** No service is registered under that name (for this manager or client). */
export class UnknownServiceError extends RingflowError {
  readonly service: string;
  constructor(service: string) {
    super('ERR_UNKNOWN_SERVICE', `no service is registered as '${String(service)}'`);
    this.service = String(service);
  }
}

/** The service has no such method (own or prototype method; not `constructor`, nothing starting with `_`). */
export class UnknownMethodError extends RingflowError {
  readonly service: string;
  readonly method: string;
  constructor(service: string, method: string) {
    super('ERR_UNKNOWN_METHOD', `service '${service}' has no method '${String(method)}'`);
    this.service = service;
    this.method = String(method);
  }
}

/**
 * The service cannot answer: its worker crashed while the call was in flight, it failed for good
 * (past `maxRestarts`), it is stopping or stopped, or it was never started.
 */
export class ServiceUnavailableError extends RingflowError {
  readonly service: string;
  readonly reason: string;
  constructor(service: string, reason: string, options?: ErrorOptions) {
    super('ERR_SERVICE_UNAVAILABLE', `service '${service}' is unavailable: ${reason}`, options);
    this.service = service;
    this.reason = reason;
  }
}

const FORWARDED = Symbol.for('ringflow.service.forwarded');

/**
 * Marks an error that a service's own machinery raised rather than its method's code (a remote
 * service's NATS request timing out, nobody answering it): a caller in another thread gets it as
 * itself (TimeoutError, ServiceUnavailableError, UnknownMethodError), not wrapped in a ServiceError.
 */
export function forwardAsIs<E extends Error>(error: E): E {
  Object.defineProperty(error, FORWARDED, { value: true });
  return error;
}

export function isForwarded(error: unknown): error is Error {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[FORWARDED] === true;
}

/** The service's request queue is full and the service was registered with `whenFull: 'fail'`. */
export class ServiceQueueFullError extends RingflowError {
  readonly service: string;
  constructor(service: string, limit: number) {
    super('ERR_SERVICE_QUEUE_FULL', `the request queue of service '${service}' is full (${limit} requests waiting)`);
    this.service = service;
  }
}

/**
 * A call's arguments (or a method's result) cannot be serialized: a function, a symbol, ... The
 * codec's error (a TypeError, code ERR_NOT_SERIALIZABLE, the refusal as its `cause`), also under
 * the name the service layer has always exported.
 */
export { UnserializableValueError, UnserializableValueError as UnserializableError };
