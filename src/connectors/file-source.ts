/**
 * fromFile: a local file as a replayable source connector. Records are the file's lines ('lines':
 * strings; 'jsonl': each line's JSON value) or its raw bytes in chunks ('bytes'). A batch's
 * position is the byte offset right after its last whole record, so `seek(offset)` resumes exactly
 * after it (a checkpoint stores that offset).
 *
 * Reading never blocks the main thread: the file is read ahead in large chunks by several async
 * reads in flight at once (libuv's thread pool), and the main thread only splits lines and, for
 * 'jsonl', parses them. JSON.parse is the costly part; a pipeline that needs more than one core's
 * parsing reads 'lines' and parses in its first operator (see the README).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { StringSpansBuilder, type PackedStrings } from '../codec/index.js';
import { InvalidArgumentError } from '../errors.js';
import type { SourceBatch, SourceConnector, SourceContext } from '../stream/index.js';
import { FileDecodeError, FileNotFoundError, FileReadError } from './errors.js';
import { checkKeys, positiveInteger } from './options.js';

export type FileSourceFormat = 'jsonl' | 'lines' | 'bytes';

export interface FileSourceOptions {
  /** 'jsonl' (default): one JSON value per line; 'lines': each line as a string; 'bytes': the raw bytes, `chunkBytes` at a time (Uint8Array). */
  format?: FileSourceFormat;
  /** Records per batch (one position, one barrier). Default 4096 ('bytes': 1). */
  batchSize?: number;
  /** Bytes per read. Default 1 MiB. */
  chunkBytes?: number;
  /** Reads in flight ahead of the one being split. Default 4. */
  readAhead?: number;
  /** The source's name in the job. Default `file:<path>`. */
  name?: string;
}

const KEYS = ['format', 'batchSize', 'chunkBytes', 'readAhead', 'name'] as const;
const FORMATS: readonly FileSourceFormat[] = ['jsonl', 'lines', 'bytes'];
const NEWLINE = 0x0a;
const CR = 0x0d;
/** Lines and text bytes per packed piece of a 'lines' batch at most: a piece is one frame, sized as the value batches a writer sends. */
const PIECE_LINES = 512;
const PIECE_BYTES = 1 << 16;

export function fromFile<T = unknown>(path: string, options: FileSourceOptions = {}): FileSource<T> {
  return new FileSource<T>(path, options);
}

/** A chunk read ahead: its bytes (a view of what was read) and where it starts in the file. */
interface Chunk {
  start: number;
  bytes: Buffer;
  /** The whole buffer `bytes` views, to read a later chunk into once this one is consumed. */
  buffer: Buffer;
}

export class FileSource<T = unknown> implements SourceConnector<T> {
  readonly connector = 'source' as const;
  readonly replayable = true;
  readonly name: string;
  readonly path: string;
  readonly format: FileSourceFormat;
  private readonly batchSize: number;
  private readonly chunkBytes: number;
  private readonly readAhead: number;
  /** Where the next batch starts (set by seek). */
  private startOffset = 0;
  private stopped = false;
  private handle: FileHandle | undefined;
  /** Records delivered and records reported as undecodable (for tests and status). */
  readonly counts = { records: 0, undecodable: 0, bytes: 0 };

  constructor(path: string, options: FileSourceOptions = {}) {
    if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError(`fromFile needs a file path, got ${JSON.stringify(path)}`);
    const o = checkKeys('fromFile', options, KEYS);
    o.format ??= 'jsonl';
    if (!FORMATS.includes(o.format as FileSourceFormat)) {
      throw new InvalidArgumentError(`fromFile format must be one of ${FORMATS.map((f) => `'${f}'`).join(', ')}, got ${String(o.format)}`);
    }
    this.path = path;
    this.format = o.format as FileSourceFormat;
    this.batchSize = positiveInteger('fromFile batchSize', o.batchSize, this.format === 'bytes' ? 1 : 4096);
    this.chunkBytes = positiveInteger('fromFile chunkBytes', o.chunkBytes, 1 << 20);
    this.readAhead = positiveInteger('fromFile readAhead', o.readAhead, 4);
    this.name = o.name === undefined ? `file:${path}` : String(o.name);
  }

  /** The next `batches()` starts at this byte offset (a position a batch reported; undefined: the file's start). */
  seek(position: unknown): void {
    if (position === undefined) {
      this.startOffset = 0;
      return;
    }
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) {
      throw new InvalidArgumentError(`fromFile seek takes a byte offset (a non-negative integer), got ${JSON.stringify(position)}`);
    }
    this.startOffset = position;
  }

  stop(): void {
    this.stopped = true;
  }

  ack(): void {
    // Nothing to give back: the position travels with the batch.
  }

  async close(): Promise<void> {
    this.stopped = true;
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  async *batches(context: SourceContext): AsyncIterable<SourceBatch<T>> {
    this.stopped = false;
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new FileNotFoundError(this.path, { cause: error });
      throw new FileReadError(this.path, this.startOffset, (error as Error).message, { cause: error });
    }
    this.handle = handle;
    try {
      const size = (await handle.stat()).size;
      if (this.startOffset > size) {
        throw new FileReadError(this.path, this.startOffset, `the position to resume from is past the file's end (${size} bytes): was the file replaced?`);
      }
      // 'bytes' hands the chunks out as records; the other formats copy what they keep of a chunk.
      const chunks = this.readChunks(handle, this.startOffset, size, this.format !== 'bytes');
      if (this.format === 'bytes') yield* this.byteBatches(chunks);
      else if (this.format === 'lines') yield* this.packedLineBatches(chunks);
      else yield* this.lineBatches(chunks, context);
    } finally {
      this.handle = undefined;
      await handle.close().catch(() => undefined);
    }
  }

  /**
   * The file from `from` to `size` in order, with up to `readAhead` reads in flight. With `reuse`,
   * a chunk's buffer takes a later read once the consumer has asked for the chunk after it (it
   * keeps nothing of a chunk past that): readAhead + 1 buffers for the whole file, where a fresh
   * one per chunk was the file's size in garbage for the main thread to collect.
   */
  private async *readChunks(handle: FileHandle, from: number, size: number, reuse: boolean): AsyncGenerator<Chunk> {
    const inFlight: Promise<Chunk>[] = [];
    const spare: Buffer[] = [];
    let next = from;
    const issue = (): void => {
      const start = next;
      const length = Math.min(this.chunkBytes, size - start);
      next += length;
      const reused = spare.length > 0 && spare[spare.length - 1]!.length >= length ? spare.pop() : undefined;
      inFlight.push(readFully(handle, start, length, this.path, reused ?? Buffer.allocUnsafeSlow(length)));
    };
    try {
      while (next < size && inFlight.length < this.readAhead) issue();
      while (inFlight.length > 0) {
        const chunk = await inFlight.shift()!;
        if (next < size && !this.stopped) issue();
        this.counts.bytes += chunk.bytes.length;
        yield chunk;
        if (reuse) spare.push(chunk.buffer);
        if (this.stopped) return;
      }
    } finally {
      // Reads still in flight must settle before the handle closes.
      await Promise.allSettled(inFlight);
    }
  }

  private async *byteBatches(chunks: AsyncGenerator<Chunk>): AsyncGenerator<SourceBatch<T>> {
    let records: Uint8Array[] = [];
    let end = 0;
    for await (const chunk of chunks) {
      records.push(chunk.bytes);
      end = chunk.start + chunk.bytes.length;
      this.counts.records++;
      if (records.length >= this.batchSize) {
        yield { records: records as T[], token: undefined, position: end };
        records = [];
      }
    }
    if (records.length > 0) yield { records: records as T[], token: undefined, position: end };
  }

  /**
   * 'lines': the lines are never made strings here. Each piece of a batch (PackedStrings) holds
   * the bytes as read, copied once per chunk region, and each line's offsets in them (without its
   * '\n' and a '\r' before it); the workers decode the strings. Positions and batch sizes are as
   * in `lineBatches`.
   */
  private async *packedLineBatches(chunks: AsyncGenerator<Chunk>): AsyncGenerator<SourceBatch<T>> {
    const builder = new StringSpansBuilder();
    let packed: PackedStrings[] = [];
    let inBatch = 0;
    /** Where in the builder's text the line begun in an earlier chunk starts (-1: none). */
    let carryAt = -1;
    let end = this.startOffset;
    let yielded = this.startOffset;
    const piece = (): void => {
      inBatch += builder.count;
      packed.push(builder.take());
    };
    for await (const chunk of chunks) {
      const bytes = chunk.bytes;
      // Bytes [copiedTo, from) of the chunk are not in the builder's text yet; they go there at `base`.
      let copiedTo = 0;
      let base = builder.textLength;
      let from = 0;
      for (;;) {
        const nl = bytes.indexOf(NEWLINE, from);
        if (nl < 0) break;
        const start = carryAt >= 0 ? carryAt : base + (from - copiedTo);
        carryAt = -1;
        let stop = base + (nl - copiedTo);
        if (stop > start && (nl > copiedTo ? bytes[nl - 1] : builder.byteAt(stop - 1)) === CR) stop--;
        builder.addSpan(start, stop);
        from = nl + 1;
        end = chunk.start + from;
        if (builder.count >= Math.min(PIECE_LINES, this.batchSize - inBatch) || base + (from - copiedTo) >= PIECE_BYTES) {
          builder.appendText(bytes, copiedTo, from);
          copiedTo = from;
          piece();
          base = 0;
          if (inBatch >= this.batchSize) {
            this.counts.records += inBatch;
            yield { records: [], packed, token: undefined, position: end };
            packed = [];
            inBatch = 0;
            yielded = end;
            if (this.stopped) return;
          }
        }
      }
      if (from < bytes.length && carryAt < 0) carryAt = base + (from - copiedTo);
      builder.appendText(bytes, copiedTo, bytes.length);
    }
    // A last line without its newline is a whole record all the same: the file ends there.
    if (carryAt >= 0 && !this.stopped) {
      let stop = builder.textLength;
      if (stop > carryAt && builder.byteAt(stop - 1) === CR) stop--;
      end += builder.textLength - carryAt;
      builder.addSpan(carryAt, stop);
    }
    if (builder.count > 0) piece();
    this.counts.records += inBatch;
    if (packed.length > 0 || end > yielded) yield { records: [], packed, token: undefined, position: end };
  }

  private async *lineBatches(chunks: AsyncGenerator<Chunk>, context: SourceContext): AsyncGenerator<SourceBatch<T>> {
    const json = this.format === 'jsonl';
    // Line numbers are known only when reading from the start.
    let line = this.startOffset === 0 ? 1 : undefined;
    let records: unknown[] = [];
    /** Bytes of a line begun in an earlier chunk (the rest of it comes in a later one). */
    let carry: Buffer[] = [];
    let carryStart = this.startOffset;
    let end = this.startOffset;
    let yielded = this.startOffset;

    const take = (text: string, start: number): void => {
      if (json) {
        if (isBlank(text)) return;
        try {
          records.push(JSON.parse(text));
        } catch (cause) {
          this.counts.undecodable++;
          context.report({
            operator: this.name,
            key: undefined,
            record: { path: this.path, offset: start, line, text: text.length > 200 ? `${text.slice(0, 200)}…` : text },
            error: new FileDecodeError(this.path, start, line, cause),
          });
          return;
        }
      } else records.push(text);
      this.counts.records++;
    };

    for await (const chunk of chunks) {
      const bytes = chunk.bytes;
      let from = 0;
      for (;;) {
        const nl = bytes.indexOf(NEWLINE, from);
        if (nl < 0) break;
        let text: string;
        let start: number;
        if (carry.length > 0) {
          carry.push(bytes.subarray(0, nl));
          text = decodeLine(Buffer.concat(carry));
          start = carryStart;
          carry = [];
        } else {
          text = decodeLine(bytes.subarray(from, nl));
          start = chunk.start + from;
        }
        take(text, start);
        if (line !== undefined) line++;
        from = nl + 1;
        end = chunk.start + from;
        if (records.length >= this.batchSize) {
          yield { records: records as T[], token: undefined, position: end };
          records = [];
          yielded = end;
          if (this.stopped) return;
        }
      }
      if (from < bytes.length) {
        if (carry.length === 0) carryStart = chunk.start + from;
        // A copy: the chunk's buffer takes another read once the next chunk is asked for.
        carry.push(Buffer.from(bytes.subarray(from)));
      }
    }
    // A last line without its newline is a whole record all the same: the file ends there.
    if (carry.length > 0 && !this.stopped) {
      const rest = Buffer.concat(carry);
      take(decodeLine(rest), carryStart);
      end = carryStart + rest.length;
    }
    if (records.length > 0 || end > yielded) yield { records: records as T[], token: undefined, position: end };
  }
}

/** A line's text without its '\r' (CRLF files). */
function decodeLine(bytes: Buffer): string {
  const length = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length;
  return bytes.toString('utf8', 0, length);
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

/** Reads `length` bytes from `start` into `buffer` (at least that long). */
async function readFully(handle: FileHandle, start: number, length: number, path: string, buffer: Buffer): Promise<Chunk> {
  let got = 0;
  try {
    while (got < length) {
      const { bytesRead } = await handle.read(buffer, got, length - got, start + got);
      if (bytesRead === 0) break; // the file shrank while being read
      got += bytesRead;
    }
  } catch (error) {
    throw new FileReadError(path, start + got, (error as Error).message, { cause: error });
  }
  return { start, bytes: got === buffer.length ? buffer : buffer.subarray(0, got), buffer };
}
