import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { InvalidArgumentError, checkOptionKeys } from '../errors.js';
import type { JobResult, OperatorFailure, StreamEnvironment } from '../stream/index.js';
import { SLOTS_SHARED_NAME, type Envelope } from './envelope.js';
import { ServeError, ServeErrorCode } from './errors.js';
import { answerClientError, readBody, writeJson, type AnswerHeaders } from './http-io.js';
import { RequestFeed } from './request-feed.js';
import { InFlight, RequestRegistry, type Outcome, type ResultListener } from './requests.js';
import { MAX_ID_BYTES, MAX_SLOTS, SlotTable } from './slot-table.js';
import { ServingStream } from './serving-stream.js';
import { uuidv7 } from './uuid.js';

export interface ServeOptions {
  /** Default 8080; 0 picks a free port (see `server.port`). */
  port?: number;
  /** Default '127.0.0.1' (loopback): listening elsewhere is a choice to make explicitly. */
  host?: string;
  /** A request not answered by then gets 408. Default 30 000. */
  requestTimeoutMs?: number;
  /** Larger bodies get 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** When set, /v1 requests need `Authorization: Bearer <token>` (else 401). */
  token?: string;
  /** The header a client names its request id in. Default 'x-request-id'. */
  requestIdHeader?: string;
  /** Only JSON bodies are taken (anything else: 400 ERR_BAD_CONTENT_TYPE). Default false: other bodies become a Uint8Array. */
  jsonOnly?: boolean;
  /** Requests in the pipeline at once (slots of the slot table). Default 4096. */
  maxInFlight?: number;
  /** Requests' records waiting for room in the input ring. Default 1024. */
  maxQueued?: number;
  /** How long a request may wait for room (a slot, or in the queue) before 429. Default 1000 ms. */
  backpressureMs?: number;
  /** The 429's Retry-After, in seconds. Default 1. */
  retryAfterSeconds?: number;
  /** An id stays taken this long after its request ended (409 on reuse), and while an async one's results are kept. Default 60 000 ms. */
  idRetentionMs?: number;
  /** At most this many ended ids (sync and async) are remembered (the oldest go first). Default 100 000. */
  maxRetainedIds?: number;
  /** Async results are kept this long for fetch and SSE. Default 60 000 ms. */
  resultTtlMs?: number;
  /** At most this many async outcomes are kept (the oldest go first). Default 10 000. */
  maxStoredResults?: number;
  /**
   * Serves GET /metrics from this registry (prom-client's shape; `createRegistry(() => env.metrics())`
   * from `ringflow/metrics` makes one). Default: no /metrics route (404).
   */
  metrics?: MetricsRegistry;
}

/** What GET /metrics reads: a prom-client Registry has this shape. */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string> | string;
}

const DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  requestTimeoutMs: 30_000,
  maxBodyBytes: 1 << 20,
  token: undefined as string | undefined,
  requestIdHeader: 'x-request-id',
  jsonOnly: false,
  maxInFlight: 4096,
  maxQueued: 1024,
  backpressureMs: 1000,
  retryAfterSeconds: 1,
  idRetentionMs: 60_000,
  maxRetainedIds: 100_000,
  resultTtlMs: 60_000,
  maxStoredResults: 10_000,
  metrics: undefined as MetricsRegistry | undefined,
};
type Settings = typeof DEFAULTS;

export interface ServerStats {
  /** Requests in the pipeline (sync and async). */
  inFlight: number;
  /** Slots of the slot table in use (equals inFlight). */
  slots: number;
  /** Requests' records not yet taken by the input ring. */
  queued: number;
  /** Ended ids still remembered (409 window). */
  recentIds: number;
  /** Async outcomes kept for fetch / SSE. */
  storedResults: number;
}

export interface Server {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly port: number;
  /** The pipeline's run: settles when it has ended (after close()). */
  readonly done: Promise<JobResult>;
  stats(): ServerStats;
  /** Stops taking requests (503), answers those in flight, then ends the pipeline and the env's services. */
  close(): Promise<void>;
}

/**
 * Serves a pipeline over HTTP (Numaflow's serving source, in process): each request's body
 * enters `build`'s pipeline as a record, and what the pipeline derives from it is the response.
 */
export async function serve<Body = any, R = unknown>(
  env: StreamEnvironment,
  /** Gets the requests' bodies (parsed JSON, or a Uint8Array) and returns what to answer with. */
  build: (requests: ServingStream<Body>) => ServingStream<R>,
  options: ServeOptions = {},
): Promise<Server> {
  const settings = settle(options);
  if (typeof build !== 'function') throw new InvalidArgumentError('serve needs a build function: (requests) => requests.map(…)…');

  const table = SlotTable.create(settings.maxInFlight);
  env.share(SLOTS_SHARED_NAME, table.buffer);
  const feed = new RequestFeed();
  const registry = new RequestRegistry(table, settings);
  const requests = new ServingStream<Body>(env.fromFeed<Envelope>(feed, { name: 'http' }), env);
  const results = build(requests);
  if (!(results instanceof ServingStream)) {
    throw new InvalidArgumentError('the build function must return the stream it derived from its requests argument');
  }
  // A probe (origin 0) goes through first: the server listens once every stage is up.
  let probed!: () => void;
  const ready = new Promise<void>((resolve) => (probed = resolve));
  results.stream.sink((record: Envelope) => (record.o === 0 ? probed() : registry.deliver(record)), { name: 'http-response' });
  env.onError((failure: OperatorFailure) => {
    const origin = (failure.record as Envelope | undefined)?.o;
    if (typeof origin !== 'number') return;
    // The runtime's own errors (OperatorError and its kin) already name the operator.
    const named = `operator '${failure.operator}' failed`;
    registry.failed(origin, failure.error.message.startsWith(named) ? failure.error.message : `${named}: ${failure.error.message}`);
  });

  const job = env.start();
  let pipelineDown: ServeError | undefined;
  const done = job.done.catch((error: unknown) => {
    pipelineDown = new ServeError(500, ServeErrorCode.PipelineFailed, `the pipeline failed: ${(error as Error)?.message ?? error}`);
    registry.failAll(pipelineDown);
    throw error;
  });
  done.catch(() => {});

  feed.push({ o: 0, m: 'done' });
  try {
    await Promise.race([ready, done]);
  } catch (error) {
    registry.stop();
    await env.close();
    throw error;
  }

  const state = { closing: false };
  const app = buildApp(settings, registry, feed, state, () => pipelineDown);
  try {
    await listen(app, settings.port, settings.host);
  } catch (error) {
    registry.stop();
    feed.end();
    await done.catch(() => {});
    await env.close();
    throw error;
  }
  const port = (app.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${port}`,
    port,
    done,
    stats: () => ({ ...registry.size, queued: feed.queued }),
    close() {
      closed ??= (async () => {
        state.closing = true;
        // Stops listening and ends idle keep-alive connections; busy ones get 503s, each closing its connection.
        const httpClosed = new Promise<void>((resolve) => app.close(() => resolve()));
        await registry.whenDrained();
        // Every answer is out: keep-alive connections that went idle since close() began end now.
        app.closeIdleConnections();
        feed.end();
        await done.catch(() => {});
        await httpClosed;
        registry.stop();
        await env.close();
      })();
      return closed;
    },
  };
}

function listen(server: HttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function settle(options: ServeOptions): Settings {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('serve options must be an object');
  checkOptionKeys('serve', options, Object.keys(DEFAULTS));
  const s = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Settings;
  const integer = (name: keyof Settings, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = s[name] as number;
    if (!Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(`serve option ${name} must be an integer in ${min} … ${max}, got ${String(v)}`);
  };
  integer('port', 0, 65535);
  integer('requestTimeoutMs', 1);
  integer('maxBodyBytes', 1);
  integer('maxInFlight', 1, MAX_SLOTS);
  integer('maxQueued', 1);
  integer('backpressureMs', 0);
  integer('retryAfterSeconds', 0);
  integer('idRetentionMs', 0);
  integer('maxRetainedIds', 0);
  integer('resultTtlMs', 0);
  integer('maxStoredResults', 0);
  if (typeof s.host !== 'string' || s.host === '') throw new InvalidArgumentError('serve option host must be a host name or address');
  if (s.token !== undefined && (typeof s.token !== 'string' || s.token === '')) throw new InvalidArgumentError('serve option token must be a non-empty string');
  if (typeof s.requestIdHeader !== 'string' || !/^[A-Za-z0-9-]+$/.test(s.requestIdHeader)) {
    throw new InvalidArgumentError('serve option requestIdHeader must be a header name');
  }
  s.requestIdHeader = s.requestIdHeader.toLowerCase();
  s.jsonOnly = s.jsonOnly === true;
  if (s.metrics !== undefined && (typeof s.metrics.metrics !== 'function' || typeof s.metrics.contentType !== 'string')) {
    throw new InvalidArgumentError('serve option metrics must be a registry with contentType and metrics() (prom-client’s Registry, or createRegistry from ringflow/metrics)');
  }
  return s;
}

/** Anything but printable ASCII. */
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/;

/**
 * A request id from a header or query: 400 unless it is 1 … 128 characters of printable ASCII.
 * Control characters are refused; so is anything past ASCII, which node:http reads from a header
 * byte by byte (an id sent as UTF-8 would arrive changed, and could not be echoed back as sent).
 */
function checkId(id: unknown, where: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new ServeError(400, ServeErrorCode.BadRequestId, `${where} must be a non-empty request id`);
  if (id.length > MAX_ID_BYTES) throw new ServeError(400, ServeErrorCode.BadRequestId, `${where} is longer than ${MAX_ID_BYTES} bytes`);
  const bad = NOT_PRINTABLE_ASCII.exec(id);
  if (bad !== null) {
    const code = bad[0].charCodeAt(0);
    throw new ServeError(400, ServeErrorCode.BadRequestId, `${where} contains ${code < 0x20 || code === 0x7f ? 'a control character' : 'a character outside printable ASCII'} (U+${code.toString(16).padStart(4, '0').toUpperCase()})`);
  }
  return id;
}

type Route = (request: IncomingMessage, response: ServerResponse, query: string) => void;

function buildApp(
  settings: Settings,
  registry: RequestRegistry,
  feed: RequestFeed,
  state: { closing: boolean },
  pipelineDown: () => ServeError | undefined,
): HttpServer {
  const expected = settings.token === undefined ? undefined : Buffer.from(settings.token);
  const idHeader = settings.requestIdHeader;
  const head = (id?: string): AnswerHeaders => ({ idHeader, id, close: state.closing });
  const sendJson = (response: ServerResponse, status: number, value: unknown, id?: string): void => {
    let body: string;
    try {
      body = JSON.stringify(value);
    } catch (error) {
      return sendError(response, new ServeError(500, ServeErrorCode.ResultNotJson, `a result cannot be sent as JSON: ${(error as Error).message}`), id);
    }
    writeJson(response, status, body, head(id));
  };
  const sendError = (response: ServerResponse, error: unknown, id?: string): void => {
    const e = error instanceof ServeError ? error : new ServeError(500, ServeErrorCode.Internal, (error as Error)?.message ?? String(error));
    if (response.headersSent) return void response.destroy();
    // A 413 also ends the connection: the rest of the body is not worth reading.
    writeJson(response, e.status, JSON.stringify(e.body()), { idHeader, id, close: state.closing || e.status === 413 }, e.retryAfter);
  };

  /** Before the body is read: closing, token. Nothing of a refused request enters the pipeline. */
  const check = (request: IncomingMessage): ServeError | undefined => {
    if (state.closing) return closingError();
    const down = pipelineDown();
    if (down) return new ServeError(503, ServeErrorCode.PipelineFailed, down.message);
    if (expected !== undefined) {
      const given = request.headers.authorization;
      // The scheme is case-insensitive (RFC 9110 §11.1); the token is compared in constant time.
      const bearer = given === undefined ? undefined : BEARER.exec(given);
      const bytes = bearer ? Buffer.from(bearer[1]!) : undefined;
      if (bytes === undefined || bytes.length !== expected.length || !timingSafeEqual(bytes, expected)) {
        return new ServeError(401, ServeErrorCode.Unauthorized, given === undefined ? 'an Authorization: Bearer token is required' : 'the token is not valid');
      }
    }
    return undefined;
  };
  /**
   * Puts the request's record into the pipeline: at once when there is room (no promise on this
   * path), else after a bounded wait for room (429 past it).
   */
  const submit = (id: string, body: unknown, async: boolean, generated: boolean): InFlight | Promise<InFlight> => {
    // An id generated here (a fresh UUIDv7) is known to be new: no lookups.
    if (!generated) registry.checkNew(id);
    if (feed.queued < settings.maxQueued) {
      const request = registry.open(id, async);
      if (request !== undefined) {
        feed.push({ o: request.origin, v: body });
        return request;
      }
    }
    return submitLater(id, body, async);
  };
  const submitLater = async (id: string, body: unknown, async: boolean): Promise<InFlight> => {
    const deadline = Date.now() + settings.backpressureMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || state.closing) break;
      // Room comes when the source takes a batch (the queue empties) or a request ends (a slot frees).
      await Promise.race([feed.waitForRoom(left), registry.whenSlotFree(left)]);
      registry.checkNew(id);
      if (feed.queued < settings.maxQueued) {
        const request = registry.open(id, async);
        if (request !== undefined) {
          feed.push({ o: request.origin, v: body });
          return request;
        }
      }
    }
    if (state.closing) throw closingError();
    throw new ServeError(429, ServeErrorCode.Busy, `the pipeline has had no room for ${settings.backpressureMs} ms`, settings.retryAfterSeconds);
  };

  /**
   * The sync requests waiting for their answer on each connection. One 'close' listener per
   * connection, not one per request: a keep-alive connection carries thousands of requests, and
   * adding and removing a listener each time was ~1% of the main thread at full load.
   */
  const waitingOn = new WeakMap<Socket, InFlight[]>();
  const clientGone = (): Outcome => ({ ok: false, error: new ServeError(499, 'ERR_CLIENT_CLOSED', 'the client closed the connection') });

  /** Waits for the request's outcome and answers with it (no promise: the registry calls back). */
  const answer = (inFlight: InFlight, id: string, response: ServerResponse): void => {
    const socket = response.socket;
    // A client gone before its answer: the request ends now, its late records are dropped.
    if (socket === null || socket.destroyed) return registry.end(inFlight, clientGone());
    let waiting = waitingOn.get(socket);
    if (waiting === undefined) {
      const list: InFlight[] = (waiting = []);
      waitingOn.set(socket, list);
      socket.once('close', () => {
        for (const request of list.splice(0)) registry.end(request, clientGone());
      });
    }
    waiting.push(inFlight);
    inFlight.onEnd = (outcome) => {
      const at = waiting.indexOf(inFlight);
      if (at >= 0) waiting.splice(at, 1);
      if (socket.destroyed) return;
      if (!outcome.ok) sendError(response, outcome.error, id);
      else sendJson(response, 200, outcome.results, id);
    };
  };

  /** A POST to the pipeline: checks, the id, the body, then `then(id, body)`; any refusal answers here. */
  const intake = (request: IncomingMessage, response: ServerResponse, then: (id: string, body: unknown, generated: boolean) => void): void => {
    const refused = check(request);
    if (refused) return sendError(response, refused);
    // The header's id (checked), or a fresh UUIDv7: `generated`, known to be new.
    const header = request.headers[idHeader] as string | undefined;
    const generated = header === undefined;
    let id: string;
    try {
      // node:http joins a repeated header's values with ', ', which would make one id of two; only
      // a joined value has a comma, so only then is it worth asking for the values one by one.
      const sent = header !== undefined && header.includes(',') ? request.headersDistinct[idHeader]!.length : 1;
      if (sent > 1) throw new ServeError(400, ServeErrorCode.BadRequestId, `the ${idHeader} header was sent ${sent} times; send one id`);
      id = generated ? uuidv7() : checkId(header, `the ${idHeader} header`);
    } catch (error) {
      return sendError(response, error);
    }
    // From here on every answer carries the id, so a client that sent none learns the one it got.
    readBody(request, settings.maxBodyBytes, settings.jsonOnly, (error, body) => {
      if (error) return sendError(response, error, id);
      // close() may have begun while the body was arriving: the pipeline takes nothing new then.
      if (state.closing) return sendError(response, closingError(), id);
      try {
        then(id, body, generated);
      } catch (e) {
        sendError(response, e, id);
      }
    });
  };

  const processSync: Route = (request, response) =>
    intake(request, response, (id, body, generated) => {
      const submitted = submit(id, body, false, generated);
      if (submitted instanceof InFlight) answer(submitted, id, response);
      else submitted.then((inFlight) => answer(inFlight, id, response), (error: unknown) => sendError(response, error, id));
    });

  const processAsync: Route = (request, response) =>
    intake(request, response, (id, body, generated) => {
      const submitted = submit(id, body, true, generated);
      const accepted = () => sendJson(response, 202, { id }, id);
      if (submitted instanceof InFlight) accepted();
      else submitted.then(accepted, (error: unknown) => sendError(response, error, id));
    });

  /** The id a fetch or SSE request asks about (400 unless valid), after the request's checks. */
  const queriedId = (request: IncomingMessage, query: string): string => {
    const refused = check(request);
    if (refused) throw refused;
    const ids = new URLSearchParams(query).getAll('id');
    if (ids.length > 1) throw new ServeError(400, ServeErrorCode.BadRequestId, `the id query parameter was sent ${ids.length} times; send one id`);
    return checkId(ids[0], 'the id query parameter');
  };

  const fetch: Route = (request, response, query) => {
    const id = queriedId(request, query);
    const found = registry.lookup(id);
    if (found === undefined) return sendError(response, notFound(id), id);
    if (found instanceof InFlight) return sendJson(response, 202, { id, status: 'pending' }, id);
    return found.ok ? sendJson(response, 200, found.results, id) : sendError(response, found.error, id);
  };

  const sse: Route = (request, response, query) => {
    const id = queriedId(request, query);
    const found = registry.lookup(id);
    if (found === undefined) return sendError(response, notFound(id), id);
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', [idHeader]: id });
    let sent = 0;
    const event = (value: unknown) => response.write(`id: ${sent++}\ndata: ${jsonOrError(value)}\n\n`);
    const finish = (outcome: Outcome) => {
      if (outcome.ok) response.end(`event: done\ndata: ${JSON.stringify({ id, count: outcome.results.length })}\n\n`);
      else response.end(`event: error\ndata: ${JSON.stringify(outcome.error.body())}\n\n`);
    };
    if (!(found instanceof InFlight)) {
      if (found.ok) for (const value of found.results) event(value);
      return finish(found);
    }
    for (const value of found.results) event(value);
    const listener: ResultListener = { result: event, end: finish };
    (found.listeners ??= []).push(listener);
    response.once('close', () => {
      if (found.listeners) found.listeners = found.listeners.filter((l) => l !== listener);
    });
  };

  const livez: Route = (_request, response) => sendJson(response, 200, { status: 'live' });
  // Not ready: the probe's status and reason, and the error every other refusal carries.
  const readyz: Route = (_request, response) => {
    const failed = pipelineDown();
    const down = state.closing ? closingError() : failed && new ServeError(503, ServeErrorCode.PipelineFailed, failed.message);
    if (!down) return sendJson(response, 200, { status: 'ready' });
    sendJson(response, 503, { status: 'not ready', reason: state.closing ? 'closing' : 'pipeline failed', ...down.body() });
  };

  // GET routes also answer HEAD (node:http leaves the body out).
  const routes = new Map<string, { method: 'GET' | 'POST'; route: Route }>([
    ['/v1/process/sync', { method: 'POST', route: processSync }],
    ['/v1/process/async', { method: 'POST', route: processAsync }],
    ['/v1/process/fetch', { method: 'GET', route: fetch }],
    ['/v1/process/sse', { method: 'GET', route: sse }],
    ['/livez', { method: 'GET', route: livez }],
    ['/readyz', { method: 'GET', route: readyz }],
  ]);
  const metrics = settings.metrics;
  if (metrics !== undefined) {
    routes.set('/metrics', {
      method: 'GET',
      route: (_request, response) => {
        Promise.resolve()
          .then(() => metrics.metrics())
          .then(
            (text) => {
              response.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
              response.end(text);
            },
            (error: unknown) => sendError(response, new ServeError(500, ServeErrorCode.Internal, `the metrics registry failed: ${(error as Error)?.message ?? String(error)}`)),
          );
      },
    });
  }

  // A request must also arrive within requestTimeoutMs: node:http ends one whose body trickles in
  // (408, through answerClientError), checking its connections at that pace.
  const arrival = {
    requestTimeout: settings.requestTimeoutMs,
    headersTimeout: Math.min(60_000, settings.requestTimeoutMs),
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(settings.requestTimeoutMs / 2))),
  };
  const server = createServer(arrival, (request, response) => {
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const entry = routes.get(path);
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    if (entry === undefined) return sendError(response, new ServeError(404, ServeErrorCode.NotFound, `no route ${request.method} ${path}`));
    if (entry.method !== method) {
      const allowed = entry.method === 'GET' ? 'GET, HEAD' : entry.method;
      response.setHeader('allow', allowed);
      return sendError(response, new ServeError(405, ServeErrorCode.MethodNotAllowed, `${path} takes ${allowed}, not ${request.method}`));
    }
    try {
      entry.route(request, response, q < 0 ? '' : url.slice(q + 1));
    } catch (error) {
      sendError(response, error);
    }
  });
  server.on('clientError', answerClientError);
  return server;
}

const BEARER = /^bearer +(\S+) *$/i;

function closingError(): ServeError {
  return new ServeError(503, ServeErrorCode.Closing, 'the server is closing');
}

function notFound(id: string): ServeError {
  return new ServeError(404, ServeErrorCode.NotFound, `no request '${id}' in flight or kept (unknown, or its results expired)`);
}

function jsonOrError(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (error) {
    return JSON.stringify({ error: { code: ServeErrorCode.ResultNotJson, message: (error as Error).message } });
  }
}
