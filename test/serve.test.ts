import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceForKey } from '../src/state/index.js';
import { createRegistry } from '../src/metrics/index.js';
import { serve, type Server, type ServeOptions, ServingStream, SlotTable, uuidv7 } from '../src/serve/index.js';
import { op, StreamEnvironment } from '../src/stream/index.js';

const FIXTURES = new URL('./fixtures/serve-ops.ts', import.meta.url).href;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

function call(server: Server, path: string, options: { method?: string; body?: string | Buffer; headers?: Record<string, string>; abortAfterMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(options.body !== undefined && typeof options.body === 'string' ? { 'content-type': 'application/json' } : {}), ...options.headers };
    const req = http.request(`${server.url}${path}`, { method: options.method ?? (options.body === undefined ? 'GET' : 'POST'), agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.abortAfterMs !== undefined) setTimeout(() => req.destroy(new Error('aborted by the test')), options.abortAfterMs);
    req.end(options.body);
  });
}

const post = (server: Server, body: unknown, headers: Record<string, string> = {}, path = '/v1/process/sync') => call(server, path, { body: JSON.stringify(body), headers });

async function start(build: (r: ServingStream<any>) => ServingStream<any>, options: ServeOptions = {}, workers = 1): Promise<Server> {
  const env = new StreamEnvironment({ workers, ringCapacity: 1 << 16 });
  return serve(env, build, { port: 0, ...options });
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('serve: results', () => {
  let server: Server;
  beforeAll(async () => {
    server = await start((requests) =>
      requests
        .map((b: { n: number }, ctx) => ({ n: b.n * 2, id: ctx.requestId }))
        .filter((r: { n: number }) => r.n > 2)
        .flatMap((r: any) => Array.from({ length: r.n % 5 }, (_, k) => ({ ...r, k }))),
    );
  });
  afterAll(() => server.close());

  it('answers the results derived from the request, with ctx.requestId', async () => {
    const r = await post(server, { n: 3 }, { 'x-request-id': 'req-1' });
    expect(r.status).toBe(200);
    expect(r.headers['x-request-id']).toBe('req-1');
    expect(r.json).toEqual([{ n: 6, id: 'req-1', k: 0 }]);
  });

  it('answers [] at once when every record was filtered out', async () => {
    const r = await post(server, { n: 1 });
    expect(r.status).toBe(200);
    expect(r.json).toEqual([]);
  });

  it('answers [] when a flatMap returns nothing', async () => {
    const r = await post(server, { n: 5 }); // 10 % 5 = 0 items
    expect(r.json).toEqual([]);
  });

  it('waits for every branch of a fan-out', async () => {
    const r = await post(server, { n: 2 }, { 'x-request-id': 'fan' }); // 4 items
    expect(r.json).toEqual([0, 1, 2, 3].map((k) => ({ n: 4, id: 'fan', k })));
  });

  it('gives a UUIDv7 id when the request names none', async () => {
    const r = await post(server, { n: 3 });
    expect(r.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r.json[0].id).toBe(r.headers['x-request-id']);
  });

  it('livez and readyz', async () => {
    expect((await call(server, '/livez')).status).toBe(200);
    expect((await call(server, '/readyz')).json).toEqual({ status: 'ready' });
  });
});

describe('serve: HTTP edges', () => {
  let server: Server;
  beforeAll(async () => {
    // What reaches the pipeline, described: the body's type, and its bytes or value.
    server = await start((requests) =>
      requests.map((b: unknown) => (b instanceof Uint8Array ? { bytes: Array.from(b) } : { json: b })),
    { maxBodyBytes: 64 });
  });
  afterAll(() => server.close());

  it('a body of another content type (or none) arrives as its bytes', async () => {
    const bytes = await call(server, '/v1/process/sync', { method: 'POST', body: Buffer.from([1, 2, 250]), headers: { 'content-type': 'application/octet-stream' } });
    expect([bytes.status, bytes.json]).toEqual([200, [{ bytes: [1, 2, 250] }]]);
    const none = await call(server, '/v1/process/sync', { method: 'POST' });
    expect([none.status, none.json]).toEqual([200, [{ bytes: [] }]]);
    const vendorJson = await call(server, '/v1/process/sync', { body: '{"a":1}', headers: { 'content-type': 'application/vnd.api+json; charset=utf-8' } });
    expect(vendorJson.json).toEqual([{ json: { a: 1 } }]);
  });

  it('an empty JSON body is 400 ERR_BAD_JSON', async () => {
    const r = await call(server, '/v1/process/sync', { method: 'POST', body: '', headers: { 'content-type': 'application/json' } });
    expect([r.status, r.json.error.code]).toEqual([400, 'ERR_BAD_JSON']);
  });

  it('413 when a chunked body (no Content-Length) grows past maxBodyBytes, and the connection ends', async () => {
    const r = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(`${server.url}/v1/process/sync`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, json: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.write('{"pad":"');
      req.write('x'.repeat(100));
      req.end('"}');
    });
    expect([r.status, r.json.error.code, r.headers.connection]).toEqual([413, 'ERR_BODY_TOO_LARGE', 'close']);
  });

  it('a known path with the wrong method is 405 with Allow; GET routes answer HEAD', async () => {
    const get = await call(server, '/v1/process/sync');
    expect([get.status, get.json.error.code, get.json.error.message, get.headers.allow]).toEqual([405, 'ERR_METHOD_NOT_ALLOWED', '/v1/process/sync takes POST, not GET', 'POST']);
    const post = await call(server, '/livez', { method: 'POST', body: '{}' });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    const headLivez = await call(server, '/livez', { method: 'HEAD' });
    expect([headLivez.status, headLivez.text]).toEqual([200, '']);
  });
});

describe('serve: keyBy and fan-out across instances', () => {
  it('counts records that cross a shuffle', async () => {
    const server = await start(
      (requests) =>
        requests
          .flatMap(op(FIXTURES, 'fanOut'))
          .keyBy((r: any) => `k${r.k}`)
          .map((r: any, ctx) => ({ ...r, at: ctx.instance }), { parallelism: 2 })
          .filter((r: any) => r.k !== 3),
      {},
      2,
    );
    try {
      const r = await post(server, { n: 1, fan: 8 }, { 'x-request-id': 'shuffled' });
      expect(r.status).toBe(200);
      expect(r.json.map((x: { k: number }) => x.k).sort()).toEqual([0, 1, 2, 4, 5, 6, 7]);
      expect(new Set(r.json.map((x: { at: number }) => x.at)).size).toBe(2);
    } finally {
      await server.close();
    }
  });
});

describe('serve: async, fetch and SSE', () => {
  let server: Server;
  beforeAll(async () => {
    server = await start((requests) => requests.map(op(FIXTURES, 'slowWhenAsked')).flatMap(op(FIXTURES, 'fanOut')), { resultTtlMs: 300 });
  });
  afterAll(() => server.close());

  it('202 with the id, fetch 202 while pending, 200 with the results, 404 once expired', async () => {
    const accepted = await post(server, { n: 7, fan: 2, slow: 150 }, { 'x-request-id': 'a-1' }, '/v1/process/async');
    expect(accepted.status).toBe(202);
    expect(accepted.json).toEqual({ id: 'a-1' });
    const pending = await call(server, '/v1/process/fetch?id=a-1');
    expect(pending.status).toBe(202);
    await until(() => server.stats().inFlight === 0);
    const done = await call(server, '/v1/process/fetch?id=a-1');
    expect(done.status).toBe(200);
    expect(done.json).toEqual([{ n: 7, k: 0, id: 'a-1' }, { n: 7, k: 1, id: 'a-1' }]);
    await new Promise((r) => setTimeout(r, 1500)); // past resultTtlMs and a sweep
    expect((await call(server, '/v1/process/fetch?id=a-1')).status).toBe(404);
    expect(server.stats().storedResults).toBe(0);
  });

  it('fetch of an unknown id: 404 with a code; of a bad id: 400', async () => {
    const r = await call(server, '/v1/process/fetch?id=nobody');
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('ERR_NOT_FOUND');
    expect((await call(server, '/v1/process/fetch')).json.error.code).toBe('ERR_BAD_REQUEST_ID');
    // An id sent twice is refused as the header sent twice is, not answered for the first one.
    for (const path of ['/v1/process/fetch?id=a&id=b', '/v1/process/sse?id=a&id=a']) {
      const twice = await call(server, path);
      expect([twice.status, twice.json.error.code]).toEqual([400, 'ERR_BAD_REQUEST_ID']);
      expect(twice.json.error.message).toMatch(/sent 2 times/);
    }
  });

  it('SSE: 10 events in order, then done', async () => {
    await post(server, { n: 1, fan: 10, slow: 50 }, { 'x-request-id': 'sse-1' }, '/v1/process/async');
    const r = await call(server, '/v1/process/sse?id=sse-1');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream');
    const events = r.text.trim().split('\n\n');
    expect(events).toHaveLength(11);
    events.slice(0, 10).forEach((e, k) => expect(e).toBe(`id: ${k}\ndata: ${JSON.stringify({ n: 1, k, id: 'sse-1' })}`));
    expect(events[10]).toBe(`event: done\ndata: ${JSON.stringify({ id: 'sse-1', count: 10 })}`);
  });
});

describe('serve: SSE while the operators are slow', () => {
  let server: Server;
  beforeAll(async () => {
    server = await start((requests) => requests.flatMap(op(FIXTURES, 'fanOutSlowly')).map(op(FIXTURES, 'takeItsTime')));
  });
  afterAll(() => server.close());

  it('each event leaves as its result is made, not with the rest of its input frame', { timeout: 20_000 }, async () => {
    // One request, one input frame: 5 results, 150 ms apart, all made by one operator call chain.
    await post(server, { fan: 5, each: 150 }, { 'x-request-id': 'slow-sse' }, '/v1/process/async');
    const arrivals: { at: number; text: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      http
        .get(`${server.url}/v1/process/sse?id=slow-sse`, (res) => {
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => arrivals.push({ at: performance.now(), text: chunk }));
          res.on('end', resolve);
          res.on('error', reject);
        })
        .on('error', reject);
    });
    const events = arrivals.map((a) => a.text).join('').trim().split('\n\n');
    expect(events).toHaveLength(6);
    const first = arrivals.find((a) => a.text.includes('"k":0'))!.at;
    const last = arrivals.find((a) => a.text.includes('"k":4'))!.at;
    // Before, the 5 events left together once the frame was done (all within a few ms).
    expect(last - first).toBeGreaterThan(400);
  });
});

describe('serve: failure contract', () => {
  let server: Server;
  let env: StreamEnvironment;
  const token = 'secret-token';
  beforeAll(async () => {
    env = new StreamEnvironment({ workers: 1, ringCapacity: 1 << 16 });
    server = await serve(env, (requests) => requests.map(op(FIXTURES, 'slowWhenAsked')).map(op(FIXTURES, 'failWhenAsked')), {
      port: 0,
      token,
      requestTimeoutMs: 300,
      maxBodyBytes: 1024,
      maxInFlight: 1,
      backpressureMs: 50,
      retryAfterSeconds: 2,
      jsonOnly: true,
    });
  });
  const auth = { authorization: `Bearer ${token}` };

  it('401 without or with a wrong token', async () => {
    const none = await post(server, {});
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('ERR_UNAUTHORIZED');
    expect((await post(server, {}, { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await post(server, {}, auth)).status).toBe(200);
  });

  it('400 on malformed JSON, on a non-JSON body where JSON is required, on bad ids', async () => {
    const bad = await call(server, '/v1/process/sync', { body: '{"a":', headers: auth });
    expect([bad.status, bad.json.error.code]).toEqual([400, 'ERR_BAD_JSON']);
    const text = await call(server, '/v1/process/sync', { body: Buffer.from('hello'), headers: { ...auth, 'content-type': 'text/plain' } });
    expect([text.status, text.json.error.code]).toEqual([400, 'ERR_BAD_CONTENT_TYPE']);
    const none = await call(server, '/v1/process/sync', { method: 'POST', headers: auth });
    expect([none.status, none.json.error.code]).toEqual([400, 'ERR_BAD_CONTENT_TYPE']);
    // Once the id is known (sent, or made), every answer carries it: here a refused body's.
    expect((await call(server, '/v1/process/sync', { body: '{', headers: { ...auth, 'x-request-id': 'bad-body' } })).headers['x-request-id']).toBe('bad-body');
    const made = (await call(server, '/v1/process/sync', { body: '{', headers: auth })).headers['x-request-id'];
    expect(made).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const id of ['', 'x'.repeat(129), 'a\tb']) {
      const r = await post(server, {}, { ...auth, 'x-request-id': id });
      expect([r.status, r.json.error.code]).toEqual([400, 'ERR_BAD_REQUEST_ID']);
    }
    expect((await post(server, {}, { ...auth, 'x-request-id': 'x'.repeat(128) })).status).toBe(200);
  });

  it('413 on a body over maxBodyBytes', async () => {
    const r = await post(server, { pad: 'x'.repeat(2000) }, { ...auth, 'x-request-id': 'big' });
    expect([r.status, r.json.error.code, r.headers['x-request-id']]).toEqual([413, 'ERR_BODY_TOO_LARGE', 'big']);
  });

  it('408 past requestTimeoutMs', async () => {
    const r = await post(server, { slow: 400 }, auth);
    expect([r.status, r.json.error.code]).toEqual([408, 'ERR_REQUEST_TIMEOUT']);
    await new Promise((r) => setTimeout(r, 200)); // let the worker wake up
  });

  it('409 on an id in flight and on one that just ended', async () => {
    const first = post(server, { slow: 100 }, { ...auth, 'x-request-id': 'dup' });
    await until(() => server.stats().inFlight === 1);
    const second = await post(server, {}, { ...auth, 'x-request-id': 'dup' });
    expect([second.status, second.json.error.code, second.headers['x-request-id']]).toEqual([409, 'ERR_DUPLICATE_ID', 'dup']);
    expect((await first).status).toBe(200);
    expect((await post(server, {}, { ...auth, 'x-request-id': 'dup' })).status).toBe(409);
  });

  it('429 with Retry-After when the pipeline has no room past the bound', async () => {
    const slow = post(server, { slow: 150 }, auth);
    await until(() => server.stats().inFlight === 1);
    const r = await post(server, {}, auth);
    expect([r.status, r.json.error.code, r.headers['retry-after']]).toEqual([429, 'ERR_BUSY', '2']);
    expect(r.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/); // the id it was given, to retry with
    expect((await slow).status).toBe(200);
  });

  it('500 with the operator named when an operator throws', async () => {
    const r = await post(server, { fail: true }, auth);
    expect(r.status).toBe(500);
    expect(r.json.error.code).toBe('ERR_OPERATOR_FAILED');
    expect(r.json.error.message).toContain('asked to fail');
  });

  it('unknown routes: 404 JSON', async () => {
    const r = await call(server, '/nope');
    expect([r.status, r.json.error.code]).toEqual([404, 'ERR_NOT_FOUND']);
  });

  it('close(): answers what is in flight, 503 for what comes meanwhile; refused requests never entered the pipeline', async () => {
    const inFlight = post(server, { slow: 100 }, auth);
    await until(() => server.stats().inFlight === 1);
    const closing = server.close();
    const late = await post(server, {}, auth).catch(() => undefined);
    if (late) expect([late.status, late.json.error.code]).toEqual([503, 'ERR_CLOSING']); // (or the connection was already closed)
    const probe = await call(server, '/readyz').catch(() => undefined);
    if (probe) expect([probe.status, probe.json]).toEqual([503, { status: 'not ready', reason: 'closing', error: { code: 'ERR_CLOSING', message: 'the server is closing' } }]);
    expect((await inFlight).status).toBe(200);
    await closing;
    const result = await server.done;
    // Accepted: 1 (401 test) + 1 (id of 128 bytes) + 1 (408) + 1 (409 test) + 1 (429 test) + 1 (500) + 1 (close), and the readiness probe.
    expect(result.sources['http']).toBe(8);
  });
});

describe('serve: edges of the contract', () => {
  /** A request written by hand on a socket of its own; resolves with what came back, whole. */
  function raw(server: Server, text: string | Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.end(text));
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', reject);
    });
  }

  it('GET /metrics serves the registry given as the metrics option (404 without one)', async () => {
    const env = new StreamEnvironment({ workers: 1, ringCapacity: 1 << 16 });
    const registry = createRegistry(() => env.metrics());
    const server = await serve(env, (requests) => requests.map((b: unknown) => b), { port: 0, metrics: registry });
    expect((await post(server, { a: 1 })).status).toBe(200);
    const r = await call(server, '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(registry.contentType);
    // The request and the probe record the server sends through before it listens.
    expect(r.text).toMatch(/^ringflow_source_records_total\{source="http"\} 2$/m);
    await server.close();
    registry.close();
    const plain = await start((requests) => requests.map((b: unknown) => b));
    expect((await call(plain, '/metrics')).status).toBe(404);
    await plain.close();
    await expect(start((requests) => requests, { metrics: {} as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('an id header sent twice is 400 ERR_BAD_REQUEST_ID, not one id "a, b"', async () => {
    const server = await start((requests) => requests.map((b: unknown) => b));
    const text = await raw(server, 'POST /v1/process/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Request-Id: a\r\nX-Request-Id: b\r\nConnection: close\r\n\r\n{}');
    expect(text).toMatch(/^HTTP\/1\.1 400/);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
    expect(body.error).toMatchObject({ code: 'ERR_BAD_REQUEST_ID', message: expect.stringMatching(/sent 2 times/) });
    await server.close();
  });

  it('a body that finishes arriving after close() began gets 503 and never enters the pipeline', async () => {
    const server = await start((requests) => requests.map((b: unknown) => b));
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const answer = new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    });
    // Headers and half the body, then close(), then the rest.
    socket.write('POST /v1/process/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 8\r\nX-Request-Id: late\r\n\r\n{"a"');
    await new Promise((r) => setTimeout(r, 50));
    const closing = server.close();
    await new Promise((r) => setTimeout(r, 50));
    socket.end(':11}');
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1\.1 503/);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe('ERR_CLOSING');
    await closing;
    expect((await server.done).sources['http']).toBe(1); // the readiness probe only
  });

  it('a body that trickles in past requestTimeoutMs gets a JSON 408 and its connection ends', async () => {
    const server = await start((requests) => requests.map((b: unknown) => b), { requestTimeoutMs: 300 });
    try {
      const socket = net.connect(server.port, '127.0.0.1');
      const answer = new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
      });
      socket.write('POST /v1/process/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":');
      const t0 = Date.now();
      const text = await answer;
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(text).toMatch(/^HTTP\/1\.1 408/);
      expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe('ERR_REQUEST_TIMEOUT');
      expect(server.stats().inFlight).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('an async id stays taken for idRetentionMs, however soon its results expire or are evicted', async () => {
    const server = await start((requests) => requests.map((b: unknown) => b), { idRetentionMs: 5000, resultTtlMs: 50, maxStoredResults: 1 });
    try {
      for (const id of ['a1', 'a2']) expect((await post(server, {}, { 'x-request-id': id }, '/v1/process/async')).status).toBe(202);
      await until(() => server.stats().inFlight === 0);
      await new Promise((r) => setTimeout(r, 120)); // a1 evicted by a2, then both expired
      for (const id of ['a1', 'a2']) {
        expect((await call(server, `/v1/process/fetch?id=${id}`)).status).toBe(404);
        const again = await post(server, {}, { 'x-request-id': id }, '/v1/process/async');
        expect([again.status, again.json.error.code]).toEqual([409, 'ERR_DUPLICATE_ID']);
        expect((await post(server, {}, { 'x-request-id': id })).status).toBe(409);
      }
    } finally {
      await server.close();
    }
  });

  it("an expired sync entry does not hide the same id's later async use", async () => {
    const server = await start((requests) => requests.map((b: unknown) => b), { idRetentionMs: 30, resultTtlMs: 60_000 });
    try {
      expect((await post(server, {}, { 'x-request-id': 'x' })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 60));
      expect((await post(server, {}, { 'x-request-id': 'x' }, '/v1/process/async')).status).toBe(202);
      await until(() => server.stats().inFlight === 0);
      // The async results are kept for a minute: the id is taken, whatever the sweeper has done yet.
      const r = await post(server, {}, { 'x-request-id': 'x' });
      expect([r.status, r.json.error.code]).toEqual([409, 'ERR_DUPLICATE_ID']);
    } finally {
      await server.close();
    }
  });

  it('ids past printable ASCII are refused (a header arrives byte by byte), in headers and in queries', async () => {
    const server = await start((requests) => requests.map((b: unknown) => b));
    try {
      // node:http sends and reads header values as latin1: 'é' travels as one byte, 0xE9.
      const accented = await post(server, {}, { 'x-request-id': 'caf\u00e9' });
      expect([accented.status, accented.json.error.code]).toEqual([400, 'ERR_BAD_REQUEST_ID']);
      expect(accented.json.error.message).toContain('outside printable ASCII');
      const fetched = await call(server, `/v1/process/fetch?id=${encodeURIComponent('naïve')}`);
      expect([fetched.status, fetched.json.error.code]).toEqual([400, 'ERR_BAD_REQUEST_ID']);
      expect((await post(server, {}, { 'x-request-id': 'plain-ascii_id.1 ~!' })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it("a request node:http's parser refuses (a control character in the id header) gets a JSON 400", async () => {
    const server = await start((requests) => requests.map((b: unknown) => b));
    try {
      for (const c of ['\x01', '\x1b', '\x7f']) {
        const text = await raw(server, `POST /v1/process/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: a${c}b\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
        expect(text).toMatch(/^HTTP\/1\.1 400/);
        expect(text.toLowerCase()).toContain('content-type: application/json');
        expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe('ERR_BAD_REQUEST');
      }
      expect(server.stats().inFlight).toBe(0);
      expect((await post(server, { ok: 1 })).json).toEqual([{ ok: 1 }]);
    } finally {
      await server.close();
    }
  });

  it("a keyBy whose key selector throws or gives no key: 500 naming that keyBy, with the selector's own error", async () => {
    const server = await start((requests) => requests.keyBy(op(FIXTURES, 'keyUnlessAsked')).map((b: unknown) => b, { parallelism: 2 }), {}, 2);
    try {
      const thrown = await post(server, { keyFails: true });
      expect([thrown.status, thrown.json.error.code]).toEqual([500, 'ERR_OPERATOR_FAILED']);
      expect(thrown.json.error.message).toMatch(/^operator 'keyBy[^']*' failed: the key cannot be made$/);
      const none = await post(server, { noKey: true });
      expect(none.status).toBe(500);
      expect(none.json.error.message).toMatch(/^operator 'keyBy[^']*' failed: the key selector returned undefined$/);
      const fine = await post(server, { k: 'a' });
      expect([fine.status, fine.json]).toEqual([200, [{ k: 'a' }]]);
    } finally {
      await server.close();
    }
  });

  it('401 names the Bearer scheme (WWW-Authenticate); the scheme is matched in any case', async () => {
    const server = await start((requests) => requests.map((b: unknown) => b), { token: 'tok' });
    try {
      const none = await post(server, {});
      expect([none.status, none.headers['www-authenticate']]).toEqual([401, 'Bearer']);
      expect((await post(server, {}, { authorization: 'bearer tok' })).status).toBe(200);
      expect((await post(server, {}, { authorization: 'BEARER tok' })).status).toBe(200);
      expect((await post(server, {}, { authorization: 'Basic tok' })).status).toBe(401);
      expect((await post(server, {}, { authorization: 'Bearer tok2' })).status).toBe(401);
    } finally {
      await server.close();
    }
  });
});

describe('serve: options and parts', () => {
  it('refuses unknown options, naming the valid ones', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    await expect(serve(env, (r) => r, { prot: 1 } as ServeOptions)).rejects.toThrow(/serve: unknown option 'prot' \(valid: port, host/);
  });

  it('a record of a recycled slot is not counted for the new request', () => {
    const table = SlotTable.create(1);
    const old = table.acquire('old');
    table.release(old);
    const fresh = table.acquire('new');
    expect(fresh & 0xfffff).toBe(old & 0xfffff); // same slot
    expect(table.settle(old)).toBe(-1);
    expect(table.derive(old, 3)).toBe(false);
    expect(table.requestId(old)).toBeUndefined();
    expect(table.inFlight(fresh)).toBe(1);
    expect(table.requestId(fresh)).toBe('new');
    expect(table.derive(fresh, 3)).toBe(true);
    expect(table.settle(fresh)).toBe(2);
  });

  it('uuidv7 carries the time and the version and variant bits', () => {
    const id = uuidv7(0x0123456789ab);
    expect(id).toMatch(/^01234567-89ab-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuidv7()).not.toBe(uuidv7());
  });
});

const N_STRESS = Number(process.env.SERVE_STRESS_REQUESTS ?? 4000);

describe('serve: stress', () => {
  // 4 000 requests at 32 connections by default (the issue asks 20 000: SERVE_STRESS_REQUESTS=20000
  // runs that, with a longer bound; 4 000 stays well inside a test's bound on a shared 2-core box):
  // ~5 % client aborts, 10 % duplicate ids, 5 % timeouts; the heap after the run is reported.
  it('every request gets exactly one correct answer, and nothing is left behind', async () => {
    const lanes = lanesByInstance();
    const env = new StreamEnvironment({ workers: 2, ringCapacity: 1 << 18 });
    const server = await serve(
      env,
      (requests) =>
        requests
          .keyBy((b: any) => b.lane)
          .map(op(FIXTURES, 'slowWhenAsked'), { parallelism: 2 })
          .flatMap(op(FIXTURES, 'fanOut')),
      { port: 0, requestTimeoutMs: 500, idRetentionMs: 4000, maxInFlight: 256 },
    );
    const N = N_STRESS;
    // With NODE_OPTIONS=--expose-gc the heap figures are after a full collection (flat = no leak).
    const collect = () => (globalThis as { gc?: () => void }).gc?.();
    collect();
    const heapBefore = process.memoryUsage().heapUsed;
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const answered: { id: string; at: number }[] = [];
    const tally = { ok: 0, timeout: 0, lateFast: 0, duplicate: 0, aborted: 0, wrong: [] as string[] };
    let next = 0;
    const one = async (i: number) => {
      const roll = random();
      const recent = answered.filter((a) => Date.now() - a.at < 2000);
      const duplicate = roll < 0.1 && recent.length > 0;
      const slow = !duplicate && roll < 0.15;
      const abort = !duplicate && !slow && roll < 0.2;
      const id = duplicate ? recent[Math.floor(random() * recent.length)]!.id : `r-${i}`;
      const fan = i % 4;
      const body = { n: i, fan, slow: slow ? 1000 : 0, lane: slow ? lanes.slow : lanes.fast };
      try {
        const r = await call(server, '/v1/process/sync', { body: JSON.stringify(body), headers: { 'x-request-id': id }, abortAfterMs: abort ? Math.floor(random() * 3) : undefined });
        if (duplicate) r.status === 409 ? tally.duplicate++ : tally.wrong.push(`${id}: duplicate answered ${r.status}`);
        else if (slow) r.status === 408 ? tally.timeout++ : tally.wrong.push(`${id}: slow answered ${r.status}`);
        else if (r.status === 200) {
          const expected = Array.from({ length: fan }, (_, k) => ({ n: i, k, id }));
          if (JSON.stringify(r.json) === JSON.stringify(expected)) tally.ok++;
          else tally.wrong.push(`${id}: ${r.text}`);
        } else if (r.status === 408) tally.lateFast++; // a correct status too: a loaded box can stall a worker past the timeout
        else tally.wrong.push(`${id}: answered ${r.status} ${r.text}`);
        if (!duplicate) answered.push({ id, at: Date.now() });
      } catch (error) {
        // (An aborted request's id is not reused: it may never have reached the server.)
        if (abort) tally.aborted++; else tally.wrong.push(`${id}: ${(error as Error).message}`);
      }
    };
    const clients = Array.from({ length: 32 }, async () => {
      while (next < N) await one(next++);
    });
    await Promise.all(clients);
    expect(tally.wrong.slice(0, 5)).toEqual([]);
    expect(tally.ok + tally.timeout + tally.lateFast + tally.duplicate + tally.aborted).toBe(N);
    expect(tally.ok).toBeGreaterThan(N * 0.5);
    expect(tally.timeout).toBeGreaterThan(N * 0.03);
    expect(tally.duplicate).toBeGreaterThan(N * 0.05);
    await until(() => server.stats().inFlight === 0);
    expect(server.stats()).toMatchObject({ inFlight: 0, slots: 0, queued: 0, storedResults: 0 });
    // Ended ids are remembered for idRetentionMs (the 409 window), then swept: none stays.
    expect(server.stats().recentIds).toBeGreaterThan(0);
    await until(() => server.stats().recentIds === 0, 15_000);
    await server.close();
    collect();
    console.log(`serve stress: ${N} requests ${JSON.stringify({ ...tally, wrong: tally.wrong.length })}; heap ${(heapBefore / 2 ** 20).toFixed(0)} → ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB`);
  }, N_STRESS > 4000 ? 400_000 : 90_000);
});

/** Two keyBy keys that land on different instances of 2: slow requests get one worker, the rest the other. */
function lanesByInstance(): { slow: string; fast: string } {
  const lanes: string[] = [];
  for (let i = 0; lanes.length < 2; i++) {
    const key = `lane-${i}`;
    if (lanes.every((l) => instanceForKey(l, 2) !== instanceForKey(key, 2))) lanes.push(key);
  }
  return { slow: lanes[0]!, fast: lanes[1]! };
}
