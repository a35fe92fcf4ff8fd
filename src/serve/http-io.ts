import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ServeError, ServeErrorCode } from './errors.js';

/**
 * The two things serving needs from HTTP beyond node:http itself: a request body read up to a
 * limit, and a JSON answer with its length. (fastify did both, at more CPU per request than this
 * in interleaved runs: README, "Serving a pipeline over HTTP".)
 */

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** A body as serving takes it: parsed JSON, or the raw bytes (Uint8Array) of any other type. */
export type BodyCallback = (error: ServeError | undefined, body?: unknown) => void;

/**
 * Reads the body (at most `limit` bytes: 413 past it, before reading when Content-Length says so)
 * and hands it over parsed: JSON content types as their value (400 ERR_BAD_JSON if not valid),
 * others as a Uint8Array (or 400 ERR_BAD_CONTENT_TYPE when `jsonOnly`, a missing body included). No
 * body: an empty Uint8Array.
 * A request the client aborts calls back never: nothing of it enters the pipeline.
 */
export function readBody(request: IncomingMessage, limit: number, jsonOnly: boolean, done: BodyCallback): void {
  const type = request.headers['content-type'];
  const json = type !== undefined && JSON_TYPE.test(type);
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return done(tooLarge(limit));
  const hasBody = request.headers['transfer-encoding'] !== undefined || (declared !== undefined && declared !== '0');
  if (!json && jsonOnly) {
    return done(new ServeError(400, ServeErrorCode.BadContentType, `the body must be JSON (content-type application/json), got ${type ?? 'none'}`));
  }
  if (!hasBody && !json) return done(undefined, new Uint8Array(0));

  let first: Buffer | undefined;
  let rest: Buffer[] | undefined;
  let size = 0;
  // Listeners left on the request keep what they hold alive as long as it lives: 3× the GC time.
  const stop = () => {
    request.off('data', onData);
    request.off('end', onEnd);
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      stop();
      // The rest is read and dropped by node:http once the 413 is out; the answer closes the connection.
      return done(tooLarge(limit));
    }
    if (first === undefined) first = chunk;
    else (rest ??= [first]).push(chunk);
  };
  const onEnd = () => {
    stop();
    const bytes = rest !== undefined ? Buffer.concat(rest, size) : (first ?? Buffer.alloc(0));
    // A copy: a chunk is a view over the socket's read buffer.
    if (!json) return done(undefined, new Uint8Array(bytes));
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      return done(new ServeError(400, ServeErrorCode.BadJson, `the body is not valid JSON: ${(error as Error).message}`));
    }
    done(undefined, value);
  };
  request.on('data', onData);
  request.on('end', onEnd);
}

function tooLarge(limit: number): ServeError {
  return new ServeError(413, ServeErrorCode.BodyTooLarge, `the body is larger than maxBodyBytes (${limit})`);
}

/** What every answer may carry besides its body: the request id, and whether the connection ends after it. */
export interface AnswerHeaders {
  idHeader: string;
  id?: string | undefined;
  close: boolean;
}

/** Answers with a JSON body (already a string) and its Content-Length. */
export function writeJson(response: ServerResponse, status: number, body: string, head: AnswerHeaders, retryAfter?: number): void {
  const headers: Record<string, string> = { 'content-type': JSON_CONTENT_TYPE, 'content-length': String(Buffer.byteLength(body)) };
  if (head.id !== undefined) headers[head.idHeader] = head.id;
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  if (status === 401) headers['www-authenticate'] = 'Bearer'; // RFC 6750 §3
  if (head.close) headers.connection = 'close';
  response.writeHead(status, headers);
  response.end(body);
}

/**
 * What node:http's parser refused before there was a request (a control character in a header, a
 * malformed request line, headers past their limit) gets a JSON answer like every other refusal,
 * and its connection ends. Without this, Node writes a bare 400 with no body.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const what =
    status === 431 ? 'its headers are larger than the server takes' : status === 408 ? 'it did not arrive in time' : 'it is not valid HTTP (a header may hold a control character, e.g. in the request id)';
  const code = status === 408 ? ServeErrorCode.Timeout : ServeErrorCode.BadRequest;
  const body = JSON.stringify(new ServeError(status, code, `the request was refused before it was read: ${what} (${error.code ?? 'parse error'})`).body());
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${JSON_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
