/**
 * Services beyond this process, over NATS request/reply with the NATS services API (discovery
 * with `$SRV.INFO`/`PING`/`STATS`, per-endpoint counts and processing time).
 *
 * Exposing: a registered service answers `ringflow.svc.<name>.<method>` (one endpoint, a queue
 * group, so several processes exposing the same service share its calls); the request body is the
 * argument array in the services' value codec, the reply the result — or, with the services API's
 * error headers, the error's code/name/message/stack.
 *
 * Calling: `registerRemote` makes a local service whose methods send those requests; calls from
 * this thread (`call`, `proxy`) and from operators (`ctx.services`) then go through it like any
 * local service's. Its methods are what the remote's discovery metadata lists (or `methods`).
 */
import { Svcm, ServiceErrorCodeHeader, type Service, type ServiceMsg } from '@nats-io/services';
import { toErrorInfo, type ErrorInfo } from '../codec/index.js';
import { InvalidArgumentError, RingflowError } from '../errors.js';
import type { ExposeOptions, ResolvedRemoteOptions } from './options.js';
import { connectNats, serverList, type NatsConnection } from '../nats/index.js';
import { forwardAsIs, ServiceError, ServiceUnavailableError, TimeoutError, UnknownMethodError } from './errors.js';
import { payloadDecoder, payloadEncoder, PayloadEncoder } from './value-codec.js';

export const SUBJECT_PREFIX = 'ringflow.svc';

/** A service answering on NATS; `stop()` ends it. */
export interface Exposure {
  stop(): Promise<void>;
}

/** Answers NATS requests for `name` with `call(method, args)` (the manager's own call). */
export async function exposeService(
  name: string,
  methods: readonly string[] | null,
  options: ExposeOptions,
  call: (method: string, args: unknown[]) => Promise<unknown>,
  status: () => unknown,
): Promise<Exposure> {
  const nc = await connectNats(serverList(options.servers, 'expose'), { name: `ringflow service ${name}`, connectTimeoutMs: options.connectTimeoutMs });
  let service: Service;
  try {
    service = await new Svcm(nc).add({
      name,
      version: options.version ?? '0.1.0',
      description: `ringflow service ${name}`,
      metadata: { methods: (methods ?? []).join(','), runtime: 'ringflow' },
      // The API times only a handler's synchronous part; the service's own counters and latency are in `data`.
      statsHandler: async () => status(),
    });
    const prefix = `${SUBJECT_PREFIX}.${name}.`;
    service.addEndpoint('call', {
      subject: `${prefix}*`,
      handler: (error, msg) => {
        if (error) return;
        const method = msg.subject.slice(prefix.length);
        let args: unknown;
        try {
          args = msg.data.length === 0 ? [] : payloadDecoder.decode(msg.data, 0, msg.data.length);
        } catch (e) {
          return respondError(msg, new InvalidArgumentError(`the request for ${name}.${method} is not a value-codec argument list: ${(e as Error).message}`));
        }
        if (!Array.isArray(args)) return respondError(msg, new InvalidArgumentError(`the request for ${name}.${method} must carry an argument array`));
        call(method, args).then(
          (result) => {
            let bytes: Uint8Array;
            try {
              bytes = PayloadEncoder.forUse(payloadEncoder).encode(result, 'the result');
            } catch (e) {
              return respondError(msg, e);
            }
            msg.respond(bytes);
          },
          (e: unknown) => respondError(msg, e),
        );
      },
    });
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw error;
  }
  return {
    async stop() {
      await service.stop().catch(() => undefined);
      await nc.drain().catch(() => nc.close());
    },
  };
}

function respondError(msg: ServiceMsg, error: unknown): void {
  // A ServiceError carries what the method threw; anything else (unknown method, timeout …) is ours.
  const info: ErrorInfo = error instanceof ServiceError ? { ...error.remote, code: error.remote.code ?? '' } : toErrorInfo(error);
  const kind = error instanceof ServiceError ? 'method' : 'runtime';
  let body: Uint8Array;
  try {
    body = PayloadEncoder.forUse(payloadEncoder).encode({ kind, ...info });
  } catch {
    body = new Uint8Array(0);
  }
  msg.respondError(kind === 'method' ? 500 : 400, info.message.slice(0, 500) || 'error', body);
}

/**
 * The instance behind registerRemote: a local service whose methods are NATS requests to the
 * exposed service. Made when the manager starts (connects, and learns the methods).
 */
export async function remoteInstance(name: string, options: ResolvedRemoteOptions): Promise<object> {
  const nc = await connectNats(options.servers, { name: `ringflow remote ${name}`, connectTimeoutMs: options.connectTimeoutMs });
  let methods: string[];
  try {
    methods = options.methods ?? (await discoverMethods(nc, name, Math.min(options.timeoutMs, 5000)));
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw error;
  }
  const instance: Record<string | symbol, unknown> = {};
  for (const method of methods) {
    const subject = `${SUBJECT_PREFIX}.${name}.${method}`;
    instance[method] = (...args: unknown[]) => request(nc, name, method, subject, args, options.timeoutMs);
  }
  instance[Symbol.asyncDispose] = () => nc.drain().catch(() => nc.close());
  return instance;
}

async function discoverMethods(nc: NatsConnection, name: string, waitMs: number): Promise<string[]> {
  const nobody = (cause?: unknown) =>
    new ServiceUnavailableError(name, `no process answers NATS discovery for it within ${waitMs} ms (start the exposing process first, or pass methods)`, { cause });
  try {
    const replies = await new Svcm(nc).client({ strategy: 'count', maxMessages: 1, maxWait: waitMs }).info(name);
    for await (const info of replies) {
      const listed = info.metadata?.methods;
      if (typeof listed === 'string') return listed.split(',').filter((m) => m.length > 0);
    }
  } catch (error) {
    throw nobody(error);
  }
  throw nobody();
}

async function request(nc: NatsConnection, service: string, method: string, subject: string, args: unknown[], timeoutMs: number): Promise<unknown> {
  const data = PayloadEncoder.forUse(payloadEncoder).encode(args, 'the arguments');
  let reply;
  try {
    reply = await nc.request(subject, data, { timeout: timeoutMs });
  } catch (error) {
    // The request's own failure (not the remote method's): callers in any thread get it as itself.
    throw forwardAsIs(requestFailure(error, service, method, subject, timeoutMs));
  }
  const body = reply.data.length === 0 ? undefined : payloadDecoder.decode(reply.data, 0, reply.data.length);
  if (reply.headers?.get(ServiceErrorCodeHeader)) {
    const failure = remoteFailure(service, method, body);
    throw failure instanceof TimeoutError || failure instanceof ServiceUnavailableError || failure instanceof UnknownMethodError ? forwardAsIs(failure) : failure;
  }
  return body;
}

function requestFailure(error: unknown, service: string, method: string, subject: string, timeoutMs: number): Error {
  for (let e = error as { name?: string; cause?: unknown; isNoResponders?: () => boolean } | undefined; e; e = e.cause as typeof e) {
    if (e.name === 'NoRespondersError' || (typeof e.isNoResponders === 'function' && e.isNoResponders())) {
      return new ServiceUnavailableError(service, `nobody answers on NATS subject '${subject}' (no responders)`, { cause: error });
    }
    if (e.name === 'TimeoutError') return new TimeoutError(`call ${service}.${method} got no answer within ${timeoutMs} ms`, { cause: error });
  }
  return new ServiceUnavailableError(service, `the request failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

function remoteFailure(service: string, method: string, body: unknown): Error {
  const info = (typeof body === 'object' && body !== null ? body : {}) as Partial<ErrorInfo> & { kind?: string };
  const full: ErrorInfo = { code: info.code ?? '', name: info.name ?? 'Error', message: info.message ?? 'the remote service failed', stack: info.stack ?? '' };
  if (info.kind === 'runtime') {
    if (full.code === 'ERR_UNKNOWN_METHOD') return new UnknownMethodError(service, method);
    if (full.code === 'ERR_TIMEOUT') return new TimeoutError(`${full.message} (in the remote process)`);
    if (full.code === 'ERR_SERVICE_UNAVAILABLE') return new ServiceUnavailableError(service, `${full.message} (in the remote process)`);
    return Object.assign(new RingflowError(full.code || 'ERR_REMOTE', full.message), { stack: full.stack });
  }
  return new ServiceError(service, method, full);
}
