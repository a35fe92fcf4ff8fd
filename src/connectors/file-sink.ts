/**
 * toFile: records as lines of a local file ('jsonl': JSON.stringify; 'lines': strings).
 *
 * In a job with checkpoints it is transactional (Flink's two-phase commit), so a file → file job
 * writes every derived record exactly once across crashes:
 * - between checkpoints, records go to a hidden pending file next to the target
 *   (`.<name>.<id>.pending`, same folder so the same file system);
 * - `prepare(N)` writes out and fsyncs the pending file (and, for a new file, its folder) and
 *   returns `{ file, offset, bytes }`: its name, where its bytes go in the target, how many;
 * - `commit(N)` writes the pending bytes into the target at exactly `offset` (positional writes:
 *   running it again writes the same bytes to the same place), fsyncs the target, then removes the
 *   pending file and fsyncs the folder. A crash at any step leaves either the pending file (so the
 *   commit is redone) or a target that already holds its bytes (so there is nothing to redo);
 * - `recover(committed)` redoes the last committed checkpoint's commit if needed, cuts the target
 *   to the end of what it covers, and removes every other pending file (uncommitted output).
 * Readers of the target see only committed output, appended in checkpoint order.
 *
 * Without checkpoints (no `recover` call before the first write) it writes straight to the target
 * (truncated first unless `append`), and `flush` / `close` fsync it.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import type { CommittedSinkState, SinkConnector } from '../stream/index.js';
import { FileCommitError, FileWriteError } from './errors.js';
import { checkKeys, positiveInteger } from './options.js';

export type FileSinkFormat = 'jsonl' | 'lines';

export interface FileSinkOptions {
  /** 'jsonl' (default): each record's JSON on a line; 'lines': each record (a string, without '\n') on a line. */
  format?: FileSinkFormat;
  /** Keep what the target holds when the job starts fresh (default: the job's output replaces it). */
  append?: boolean;
  /** Bytes gathered before they are written out. Default 1 MiB. */
  bufferBytes?: number;
  /** The sink's name in the job. Default `file:<path>`. */
  name?: string;
}

/** What `prepare` returns and a checkpoint stores: the pending file and where its bytes go in the target. */
export interface FileSinkState {
  /** The pending file's name in the target's folder (null: nothing was written since the last checkpoint). */
  file: string | null;
  /** The target's length before these bytes (the end of everything committed before). */
  offset: number;
  bytes: number;
}

const KEYS = ['format', 'append', 'bufferBytes', 'name'] as const;
const FORMATS: readonly FileSinkFormat[] = ['jsonl', 'lines'];
const COPY_BYTES = 1 << 20;

/**
 * A hook called at each step of prepare / commit / recover (tests kill the process there to show
 * that every step is crash-safe). Not part of the public API.
 */
export const FILE_SINK_STEP = Symbol('ringflow.fileSinkStep');

export function toFile<T = unknown>(path: string, options: FileSinkOptions = {}): FileSink<T> {
  return new FileSink<T>(path, options);
}

export class FileSink<T = unknown> implements SinkConnector<T> {
  readonly connector = 'sink' as const;
  readonly name: string;
  readonly path: string;
  readonly format: FileSinkFormat;
  private readonly append: boolean;
  private readonly bufferBytes: number;
  private readonly folder: string;
  private readonly pendingPrefix: string;
  [FILE_SINK_STEP]?: (step: string) => void | Promise<void>;

  /** Unset until the first write or recover: 'direct' writes the target, 'transactional' pending files. */
  private mode: 'unset' | 'direct' | 'transactional' = 'unset';
  private target: FileHandle | undefined;
  /** Direct: the target's length written so far. */
  private targetEnd = 0;
  /** Transactional: the open pending file, its bytes written, and whether its folder entry is durable. */
  private pending: { file: string; handle: FileHandle; bytes: number; synced: boolean } | undefined;
  /** Transactional: where the next prepared bytes go in the target (after every prepared checkpoint). */
  private preparedEnd = 0;
  /** Prepared, not yet committed, in checkpoint order. */
  private readonly prepared: { id: number; state: FileSinkState }[] = [];
  /** Lines gathered: strings from `write`, UTF-8 from `writeText`. */
  private pieces: (string | Uint8Array)[] = [];
  private buffered = 0;
  /** Characters or bytes handed to the chain of writes and not yet written. */
  private queued = 0;
  /** The chain of writes out: one at a time, in order. */
  private writing: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  /** Records taken and bytes made durable (for tests and status). */
  readonly counts = { records: 0, committedBytes: 0 };

  constructor(path: string, options: FileSinkOptions = {}) {
    if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError(`toFile needs a file path, got ${JSON.stringify(path)}`);
    const o = checkKeys('toFile', options, KEYS);
    o.format ??= 'jsonl';
    if (!FORMATS.includes(o.format as FileSinkFormat)) {
      throw new InvalidArgumentError(`toFile format must be one of ${FORMATS.map((f) => `'${f}'`).join(', ')}, got ${String(o.format)}`);
    }
    if (o.append !== undefined && typeof o.append !== 'boolean') throw new InvalidArgumentError(`toFile append must be a boolean, got ${String(o.append)}`);
    this.path = path;
    this.format = o.format as FileSinkFormat;
    this.append = o.append === true;
    this.bufferBytes = positiveInteger('toFile bufferBytes', o.bufferBytes, 1 << 20);
    this.folder = dirname(path);
    this.pendingPrefix = `.${basename(path)}.`;
    this.name = o.name === undefined ? `file:${path}` : String(o.name);
  }

  async open(): Promise<void> {
    // The folder must exist: checked now, so a typo fails the job before any record.
    try {
      const dir = await open(this.folder, 'r');
      await dir.close();
    } catch (error) {
      throw new FileWriteError(this.path, `its folder '${this.folder}' cannot be opened: ${(error as Error).message}`, { cause: error });
    }
  }

  write(record: T): void | Promise<void> {
    return this.take(this.lineOf(record), 1);
  }

  /** The records' lines as the workers encoded them (encodeText), many at once. */
  get encodeText(): (record: T) => string {
    return this.format === 'lines' ? textLine : jsonLine;
  }

  writeText(utf8: Uint8Array, records: number): void | Promise<void> {
    return this.take(utf8, records);
  }

  private take(piece: string | Uint8Array, records: number): void | Promise<void> {
    if (this.failure) throw this.failure;
    this.pieces.push(piece);
    this.buffered += piece.length;
    this.counts.records += records;
    if (this.buffered < this.bufferBytes) return;
    const written = this.writeOut();
    // Backpressure: wait only when writes out fall behind by several buffers.
    if (this.queued >= this.bufferBytes * 4) return written;
    written.catch(() => undefined); // kept in `failure`, thrown at the next call
  }

  async flush(): Promise<void> {
    // A job without checkpoints that wrote nothing still leaves its (empty) file.
    if (this.mode === 'unset') this.writing = this.writing.then(() => this.writeBytes([], 0));
    await this.writeOut();
    if (this.mode === 'direct' && this.target) await this.guard(() => this.target!.datasync());
  }

  async prepare(checkpointId: number): Promise<FileSinkState> {
    this.expectTransactional('prepare');
    await this.writeOut();
    const pending = this.pending;
    let state: FileSinkState;
    if (!pending || pending.bytes === 0) state = { file: null, offset: this.preparedEnd, bytes: 0 };
    else {
      await this.step('prepare:written');
      await this.guard(() => pending.handle.sync());
      await this.step('prepare:synced');
      if (!pending.synced) await this.guard(() => syncFolder(this.folder));
      await this.step('prepare:folder-synced');
      await pending.handle.close().catch(() => undefined);
      this.pending = undefined;
      state = { file: pending.file, offset: this.preparedEnd, bytes: pending.bytes };
    }
    this.preparedEnd += state.bytes;
    this.prepared.push({ id: checkpointId, state });
    return state;
  }

  async commit(checkpointId: number, state: unknown): Promise<void> {
    this.expectTransactional('commit');
    const mine = checkState(this.path, state);
    await this.writing;
    // Every checkpoint prepared before this one is covered by it: commit those first (in order).
    while (this.prepared.length > 0 && this.prepared[0]!.id <= checkpointId) {
      const { id, state: earlier } = this.prepared.shift()!;
      if (id !== checkpointId) await this.apply(earlier);
    }
    await this.apply(mine);
  }

  async recover(committed: CommittedSinkState | undefined): Promise<void> {
    this.mode = 'transactional';
    await this.writing.catch(() => undefined);
    this.failure = undefined;
    this.pieces = [];
    this.buffered = 0;
    this.prepared.length = 0;
    const pending = this.pending;
    this.pending = undefined;
    await pending?.handle.close().catch(() => undefined);
    const target = await this.openTarget();
    let end: number;
    if (committed !== undefined) {
      const state = checkState(this.path, committed.state);
      await this.apply(state);
      end = state.offset + state.bytes;
    } else end = this.append ? (await target.stat()).size : 0;
    await this.step('recover:applied');
    const size = (await target.stat()).size;
    if (size < end) throw new FileCommitError(this.path, `holds ${size} bytes, but the committed checkpoint covers ${end}: was it cut short or replaced?`);
    if (size > end) {
      await this.guard(() => target.truncate(end));
      await this.guard(() => target.sync());
    }
    await this.step('recover:truncated');
    for (const name of await readdir(this.folder)) {
      if (name.startsWith(this.pendingPrefix) && name.endsWith('.pending')) await this.guard(() => unlink(join(this.folder, name)));
    }
    await this.guard(() => syncFolder(this.folder));
    await this.step('recover:cleaned');
    this.preparedEnd = end;
  }

  async close(error?: Error): Promise<void> {
    try {
      if (!error) await this.flush();
    } finally {
      const pending = this.pending;
      const target = this.target;
      this.pending = undefined;
      this.target = undefined;
      // An unprepared pending file stays: the next recover drops it.
      await pending?.handle.close().catch(() => undefined);
      await target?.close().catch(() => undefined);
    }
  }

  private lineOf(record: T): string {
    try {
      return this.encodeText(record);
    } catch (error) {
      throw new FileWriteError(this.path, (error as Error).message, { cause: (error as Error).cause ?? error });
    }
  }

  /** Writes what is buffered to the pending file (transactional) or the target (direct), after the writes before it. */
  private writeOut(): Promise<void> {
    if (this.pieces.length > 0) {
      const data = utf8Pieces(this.pieces);
      const bytes = data.reduce((n, d) => n + d.length, 0);
      this.pieces = [];
      this.buffered = 0;
      this.queued += bytes;
      this.writing = this.writing.then(() => this.writeBytes(data, bytes)).finally(() => (this.queued -= bytes));
    }
    const writing = this.writing;
    return writing.then(() => {
      if (this.failure) throw this.failure;
    });
  }

  /** Writes `data` (`bytes` in all) after what is written, to the target or the pending file. */
  private async writeBytes(data: readonly Uint8Array[], bytes: number): Promise<void> {
    if (this.failure) return;
    try {
      if (this.mode === 'unset') {
        this.mode = 'direct';
        const target = await this.openTarget();
        this.targetEnd = this.append ? (await target.stat()).size : 0;
        if (!this.append) await target.truncate(0);
      }
      if (bytes === 0) return;
      if (this.mode === 'direct') {
        await writeAll(this.target!, data, this.targetEnd);
        this.targetEnd += bytes;
        return;
      }
      if (!this.pending) {
        const file = `${this.pendingPrefix}${randomUUID().slice(0, 8)}.pending`;
        const handle = await open(join(this.folder, file), constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o644);
        this.pending = { file, handle, bytes: 0, synced: false };
      }
      await writeAll(this.pending.handle, data, this.pending.bytes);
      this.pending.bytes += bytes;
    } catch (error) {
      this.failure ??= asWriteError(this.path, error);
    }
  }

  /** Puts a prepared state's bytes into the target at its offset; removes its pending file. Idempotent. */
  private async apply(state: FileSinkState): Promise<void> {
    if (state.file === null || state.bytes === 0) return;
    const target = await this.openTarget();
    const file = join(this.folder, state.file);
    let source: FileHandle;
    try {
      source = await open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw asWriteError(this.path, error);
      // Removed only once the target held its bytes durably: nothing to redo, if the target agrees.
      const size = (await target.stat()).size;
      if (size < state.offset + state.bytes) {
        throw new FileCommitError(this.path, `the pending file '${state.file}' of a committed checkpoint is gone, and the target holds ${size} of its ${state.offset + state.bytes} bytes`);
      }
      return;
    }
    try {
      const chunk = Buffer.allocUnsafe(Math.min(COPY_BYTES, state.bytes));
      for (let done = 0; done < state.bytes; ) {
        const { bytesRead } = await source.read(chunk, 0, Math.min(chunk.length, state.bytes - done), done);
        if (bytesRead === 0) throw new FileCommitError(this.path, `the pending file '${state.file}' holds ${done} bytes, its checkpoint ${state.bytes}`);
        await this.guard(() => writeAll(target, [chunk.subarray(0, bytesRead)], state.offset + done));
        done += bytesRead;
        if (done < state.bytes) await this.step('commit:partly-copied');
      }
      await this.step('commit:copied');
      await this.guard(() => target.sync());
      await this.step('commit:synced');
    } finally {
      await source.close().catch(() => undefined);
    }
    await this.guard(() => unlink(file));
    await this.step('commit:unlinked');
    await this.guard(() => syncFolder(this.folder));
    this.counts.committedBytes += state.bytes;
    await this.step('commit:done');
  }

  private async openTarget(): Promise<FileHandle> {
    if (!this.target) {
      // Read-write without O_APPEND: commits write at explicit offsets.
      this.target = await this.guard(() => open(this.path, constants.O_RDWR | constants.O_CREAT, 0o644));
    }
    return this.target;
  }

  private expectTransactional(what: string): void {
    if (this.mode !== 'transactional') throw new FileWriteError(this.path, `${what} needs recover() first (the runtime calls it before the first write of a job with checkpoints)`);
  }

  private async step(name: string): Promise<void> {
    const hook = this[FILE_SINK_STEP];
    if (hook) await hook(name);
  }

  private async guard<R>(fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (error) {
      throw asWriteError(this.path, error);
    }
  }
}

/*
 * A record's line, per format. They run on the workers when the sink is fed by operators
 * (SinkConnector.encodeText: shipped as source text, so they capture nothing), and in `write`.
 */
function jsonLine(record: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(record);
  } catch (error) {
    throw new TypeError(`the record has no JSON form: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) throw new TypeError(`${typeof record} has no JSON form`);
  return `${text}\n`;
}

function textLine(record: unknown): string {
  if (typeof record !== 'string') throw new TypeError(`format 'lines' takes strings, got ${record === null ? 'null' : typeof record}`);
  if (record.includes('\n')) throw new TypeError(`a 'lines' record cannot hold '\\n' (it would become two lines)`);
  return `${record}\n`;
}

/**
 * The pieces as UTF-8 buffers to write in turn: each run of strings encoded at once, bytes as they
 * came (the sink owns them), not concatenated: a copy of everything written made garbage of
 * the output's size, and the collections that external garbage sets off cost the main thread.
 */
function utf8Pieces(pieces: readonly (string | Uint8Array)[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let strings: string[] = [];
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      strings.push(piece);
      continue;
    }
    if (strings.length > 0) out.push(Buffer.from(strings.join(''), 'utf8'));
    strings = [];
    if (piece.length > 0) out.push(piece);
  }
  if (strings.length > 0) out.push(Buffer.from(strings.join(''), 'utf8'));
  return out;
}

function checkState(path: string, state: unknown): FileSinkState {
  const s = state as FileSinkState;
  if (
    typeof s !== 'object' ||
    s === null ||
    !(s.file === null || (typeof s.file === 'string' && !s.file.includes('/'))) ||
    !Number.isSafeInteger(s.offset) ||
    s.offset < 0 ||
    !Number.isSafeInteger(s.bytes) ||
    s.bytes < 0
  ) {
    throw new FileCommitError(path, `a checkpoint's sink state must be { file, offset, bytes } as prepare() returned it, got ${JSON.stringify(state)}`);
  }
  return s;
}

/** Writes the buffers one after another from `position`, with one writev a time, until all of them are written. */
async function writeAll(handle: FileHandle, data: readonly Uint8Array[], position: number): Promise<void> {
  let left = data.filter((d) => d.length > 0);
  let at = position;
  while (left.length > 0) {
    const { bytesWritten } = await handle.writev(left, at);
    at += bytesWritten;
    // A short write: drop what went out, go on from inside the first buffer not fully written.
    let written = bytesWritten;
    let i = 0;
    while (i < left.length && written >= left[i]!.length) written -= left[i++]!.length;
    left = left.slice(i);
    if (written > 0) left[0] = left[0]!.subarray(written);
  }
}

/** Makes the folder's entries (a new or removed file) durable. */
async function syncFolder(folder: string): Promise<void> {
  const dir = await open(folder, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function asWriteError(path: string, error: unknown): Error {
  if (error instanceof FileWriteError || error instanceof FileCommitError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  const detail = code === 'ENOSPC' ? 'the disk is full' : (error as Error)?.message ?? String(error);
  return new FileWriteError(path, detail, { cause: error });
}
