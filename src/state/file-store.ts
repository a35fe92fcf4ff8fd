import * as nodeFs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { InvalidArgumentError, checkOptionKeys } from '../errors.js';
import type { StoredTableDeclaration } from './declarations.js';
import { StateAppMismatchError, StateCorruptionError, StateDiskFullError, StateIOError } from './errors.js';
import { checkMaxParallelism, type KeyGroupRange } from './key-groups.js';
import { SegmentFill } from './compaction.js';
import { checkStoredApp, checkpointToCommit } from './manifest.js';
import { encodeSection, replaySegment } from './segment-codec.js';
import { readFrame } from './segment-format.js';
import type {
  AppStateSpec,
  CheckpointCommit,
  CommittedCheckpoint,
  OpenedState,
  PartitionChanges,
  PartitionExtent,
  PartitionWriter,
  RestoreSink,
  RestoreStats,
  StateStore,
  StateWarning,
} from './store.js';

/**
 * The file system calls the store makes: `node:fs/promises` by default. A test may hand in a
 * wrapper that fails a write (a full disk), nothing else is meant to differ.
 */
export type StateFileSystem = Pick<typeof nodeFs, 'open' | 'rename' | 'readFile' | 'readdir' | 'unlink' | 'mkdir' | 'stat'>;

export interface FileStateStoreOptions {
  /** The folder holding every app's state; this app's is `<stateDir>/<appId>/`. */
  readonly stateDir: string;
  readonly appId: string;
  /** Start a new segment with a full snapshot once the current one holds more than this times its live entries in dead ones (overwritten or deleted; see SegmentFill). Default 1. */
  readonly compactRatio?: number;
  /** ... and its deltas exceed this many bytes. Default 4 MiB. */
  readonly compactMinBytes?: number;
  /** Entries per frame. Default 4096. */
  readonly batchEntries?: number;
  readonly fs?: StateFileSystem;
}

const VALID_OPTIONS = ['stateDir', 'appId', 'compactRatio', 'compactMinBytes', 'batchEntries', 'fs'];
const APP_ID = /^[A-Za-z0-9_.-]{1,100}$/;
export const MANIFEST_FILE = 'MANIFEST';
const MANIFEST_TEMP = 'MANIFEST.tmp';
const MANIFEST_MAGIC = 'ringflow-state-manifest';
const MANIFEST_VERSION = 1;
const SEGMENT = /^seg-([A-Za-z0-9_.-]+)-(\d{10})\.log$/;

interface ManifestBody {
  readonly appId: string;
  readonly maxParallelism: number;
  readonly tables: readonly StoredTableDeclaration[];
  readonly checkpoint: CommittedCheckpoint | null;
}

function segmentName(partition: string, checkpointId: number): string {
  return `seg-${partition}-${String(checkpointId).padStart(10, '0')}.log`;
}

function isNoSpace(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function ioError(file: string, what: string, e: unknown): Error {
  return isNoSpace(e) ? new StateDiskFullError(file, e) : new StateIOError(`${what} ${file}`, e);
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    done += bytesWritten;
  }
}

/**
 * The embedded store: under `<stateDir>/<appId>/`, one segment file per partition (a full
 * snapshot, then a delta section per checkpoint, CRC-framed, fsync'd before the checkpoint is
 * committed) and a MANIFEST naming, for the last committed checkpoint, each partition's extent
 * and the sources' offsets. The manifest is replaced atomically (temp file, fsync, rename, fsync
 * of the folder), so recovery finds the old checkpoint or the new one, never a mix. A segment
 * whose deltas outgrow its snapshot is replaced at the next checkpoint by a new one (compaction),
 * so recovery reads at most about (1 + compactRatio) × the state.
 *
 * Several processes or threads may hold a FileStateStore of the same folder: each partition's
 * writer writes only its own segments; one coordinator opens and commits.
 */
export class FileStateStore implements StateStore {
  readonly stateDir: string;
  readonly appId: string;
  readonly appDir: string;
  /** @internal */ readonly fs: StateFileSystem;
  /** @internal */ readonly compactRatio: number;
  /** @internal */ readonly compactMinBytes: number;
  /** @internal */ readonly batchEntries: number;
  private manifest: ManifestBody | undefined;
  private readonly writers = new Set<FileSegmentWriter>();

  constructor(options: FileStateStoreOptions) {
    checkOptionKeys('FileStateStore', options, VALID_OPTIONS);
    if (typeof options.stateDir !== 'string' || options.stateDir === '') throw new InvalidArgumentError('FileStateStore: stateDir must be a folder path');
    if (typeof options.appId !== 'string' || !APP_ID.test(options.appId)) {
      throw new InvalidArgumentError(`an appId is 1-100 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(options.appId)}`);
    }
    const positive = (name: string, v: number | undefined, fallback: number, integer: boolean) => {
      if (v === undefined) return fallback;
      if (typeof v !== 'number' || !(v > 0) || (integer && !Number.isSafeInteger(v))) throw new InvalidArgumentError(`FileStateStore: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`);
      return v;
    };
    this.stateDir = path.resolve(options.stateDir);
    this.appId = options.appId;
    this.appDir = path.join(this.stateDir, options.appId);
    this.fs = options.fs ?? nodeFs;
    this.compactRatio = positive('compactRatio', options.compactRatio, 1, false);
    this.compactMinBytes = positive('compactMinBytes', options.compactMinBytes, 4 * 1024 * 1024, true);
    this.batchEntries = positive('batchEntries', options.batchEntries, 4096, true);
  }

  /** The last committed checkpoint, once opened. */
  get committed(): CommittedCheckpoint | undefined {
    return this.manifest?.checkpoint ?? undefined;
  }

  async open(spec: AppStateSpec): Promise<OpenedState> {
    if (spec.appId !== this.appId) throw new StateAppMismatchError(`the store is for app '${this.appId}', open() was asked for '${spec.appId}'`);
    checkMaxParallelism(spec.maxParallelism);
    // A stateDir pointed at an app's own folder would nest a second app inside it.
    const outer = await this.readManifest(path.join(this.stateDir, MANIFEST_FILE));
    if (outer) {
      throw new StateAppMismatchError(
        `stateDir ${this.stateDir} is the state folder of app '${outer.appId}' itself, not a stateDir; pass its parent (${path.dirname(this.stateDir)})`,
      );
    }
    try {
      await this.fs.mkdir(this.appDir, { recursive: true });
    } catch (e) {
      throw ioError(this.appDir, 'cannot create the state folder', e);
    }
    const manifestPath = path.join(this.appDir, MANIFEST_FILE);
    const stored = await this.readManifest(manifestPath);
    if (stored) checkStoredApp(stored, spec, this.appDir);
    const warnings: StateWarning[] = [];
    let names: string[];
    try {
      names = await this.fs.readdir(this.appDir);
    } catch (e) {
      throw ioError(this.appDir, 'cannot list', e);
    }
    if (names.includes(MANIFEST_TEMP)) {
      const size = await this.sizeOf(MANIFEST_TEMP);
      await this.remove(MANIFEST_TEMP);
      warnings.push({ code: 'STATE_UNCOMMITTED_MANIFEST', file: path.join(this.appDir, MANIFEST_TEMP), offset: 0, bytes: size, message: 'a manifest that was being written when the process stopped was discarded (its checkpoint was never committed)' });
    }
    const checkpoint = stored?.checkpoint ?? null;
    const referenced = new Map((checkpoint?.partitions ?? []).map((p) => [p.file, p]));
    for (const name of names) {
      if (!SEGMENT.test(name) || referenced.has(name)) continue;
      const size = await this.sizeOf(name);
      await this.remove(name);
      warnings.push({ code: 'STATE_UNCOMMITTED_SEGMENT', file: path.join(this.appDir, name), offset: 0, bytes: size, message: 'a segment no committed checkpoint names was discarded (written for a checkpoint that never committed)' });
    }
    for (const extent of referenced.values()) {
      if (!names.includes(extent.file)) throw new StateCorruptionError(path.join(this.appDir, extent.file), 0, 'the file the committed checkpoint names is missing');
      const warning = await this.checkTail(extent);
      if (warning) warnings.push(warning);
    }
    this.manifest = stored ?? { appId: spec.appId, maxParallelism: spec.maxParallelism, tables: spec.tables, checkpoint: null };
    if (!stored) await this.writeManifest(this.manifest);
    return { checkpoint: checkpoint ?? undefined, warnings };
  }

  writer(partition: string): PartitionWriter {
    const w = new FileSegmentWriter(this, partition);
    this.writers.add(w);
    return w;
  }

  async commit(commit: CheckpointCommit): Promise<CommittedCheckpoint> {
    const manifest = this.manifest;
    if (!manifest) throw new InvalidArgumentError('FileStateStore.commit: open() the store first');
    const checkpoint = checkpointToCommit(commit, manifest.checkpoint, manifest.maxParallelism, manifest.tables.length);
    const body: ManifestBody = { ...manifest, checkpoint };
    await this.writeManifest(body);
    this.manifest = body;
    await this.collectGarbage(checkpoint);
    return checkpoint;
  }

  async restore(checkpoint: CommittedCheckpoint, range: KeyGroupRange, sink: RestoreSink): Promise<RestoreStats> {
    let files = 0;
    let bytesRead = 0;
    let puts = 0;
    let deletes = 0;
    for (const extent of checkpoint.partitions) {
      if (extent.keyGroups.end <= range.start || extent.keyGroups.start >= range.end) continue;
      const file = path.join(this.appDir, extent.file);
      let bytes: Buffer;
      try {
        bytes = await this.fs.readFile(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StateCorruptionError(file, 0, 'the file the committed checkpoint names is missing');
        throw ioError(file, 'cannot read', e);
      }
      files++;
      bytesRead += extent.length;
      const counts = replaySegment(bytes, extent, this.appId, file, range, sink);
      puts += counts.puts;
      deletes += counts.deletes;
    }
    return { files, bytes: bytesRead, puts, deletes };
  }

  async close(): Promise<void> {
    await Promise.all([...this.writers].map((w) => w.close()));
    this.writers.clear();
  }

  /** @internal */
  forget(writer: FileSegmentWriter): void {
    this.writers.delete(writer);
  }

  /** Says what lies past a committed extent (an interrupted write); never part of the state. */
  private async checkTail(extent: PartitionExtent): Promise<StateWarning | undefined> {
    const file = path.join(this.appDir, extent.file);
    const size = await this.sizeOf(extent.file);
    if (size < extent.length) throw new StateCorruptionError(file, size, `the file ends before its committed extent (${extent.length} bytes)`);
    if (size === extent.length) return undefined;
    let tail: Buffer;
    try {
      const whole = await this.fs.readFile(file);
      tail = whole.subarray(extent.length);
    } catch (e) {
      throw ioError(file, 'cannot read', e);
    }
    let offset = 0;
    while (offset < tail.length) {
      const check = readFrame(tail, offset, tail.length);
      if (!check.ok) {
        return {
          code: 'STATE_TORN_TAIL',
          file,
          offset: extent.length + offset,
          bytes: tail.length - offset,
          message: `a write torn by a crash (${check.reason}) after the last committed checkpoint ${extent.checkpointId}: recovered to the last whole entry at offset ${extent.length}; ${tail.length} bytes past it are ignored`,
        };
      }
      offset = check.head.payloadEnd;
    }
    return {
      code: 'STATE_UNCOMMITTED_DATA',
      file,
      offset: extent.length,
      bytes: tail.length,
      message: `${tail.length} bytes written for a checkpoint after ${extent.checkpointId} that never committed are ignored`,
    };
  }

  private async readManifest(file: string): Promise<ManifestBody | undefined> {
    let text: string;
    try {
      text = await this.fs.readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw ioError(file, 'cannot read', e);
    }
    const newline = text.indexOf('\n');
    const head = (newline < 0 ? text : text.slice(0, newline)).split(' ');
    if (head.length !== 4 || head[0] !== MANIFEST_MAGIC) throw new StateCorruptionError(file, 0, 'not a ringflow state manifest');
    if (Number(head[1]) !== MANIFEST_VERSION) throw new StateCorruptionError(file, 0, `manifest version ${head[1]}, this build reads ${MANIFEST_VERSION}`);
    const body = text.slice(newline + 1);
    const bytes = Buffer.from(body, 'utf8');
    if (bytes.length !== Number(head[3]) || crc32(bytes).toString(16) !== head[2]) {
      throw new StateCorruptionError(file, newline + 1, `the manifest's body fails its length or CRC check`);
    }
    try {
      return JSON.parse(body) as ManifestBody;
    } catch (e) {
      throw new StateCorruptionError(file, newline + 1, `the manifest's body is not JSON: ${String((e as Error).message)}`);
    }
  }

  /** Temp file, fsync, rename over the manifest, fsync the folder: the old manifest or the new one, whole. */
  private async writeManifest(body: ManifestBody): Promise<void> {
    const json = Buffer.from(JSON.stringify(body), 'utf8');
    const text = Buffer.concat([Buffer.from(`${MANIFEST_MAGIC} ${MANIFEST_VERSION} ${crc32(json).toString(16)} ${json.length}\n`, 'utf8'), json]);
    const temp = path.join(this.appDir, MANIFEST_TEMP);
    let handle: FileHandle | undefined;
    try {
      handle = await this.fs.open(temp, 'w');
      await writeAll(handle, text, 0);
      await handle.sync();
      await handle.close();
      handle = undefined;
      await this.fs.rename(temp, path.join(this.appDir, MANIFEST_FILE));
    } catch (e) {
      await handle?.close().catch(() => {});
      await this.fs.unlink(temp).catch(() => {});
      throw ioError(temp, 'cannot write the checkpoint manifest', e);
    }
    await this.syncDir();
  }

  /** @internal Makes a rename or a new file in the app folder durable. */
  async syncDir(): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      handle = await this.fs.open(this.appDir, 'r');
      await handle.sync();
    } catch (e) {
      throw ioError(this.appDir, 'cannot fsync the folder', e);
    } finally {
      await handle?.close().catch(() => {});
    }
  }

  /** Removes segments no committed checkpoint needs (superseded by compaction, or never committed). */
  private async collectGarbage(checkpoint: CommittedCheckpoint): Promise<void> {
    const referenced = new Set(checkpoint.partitions.map((p) => p.file));
    let names: string[];
    try {
      names = await this.fs.readdir(this.appDir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = SEGMENT.exec(name);
      // A segment of a later checkpoint may be being written by a partition right now.
      if (m && !referenced.has(name) && Number(m[2]) <= checkpoint.id) await this.remove(name);
    }
  }

  private async sizeOf(name: string): Promise<number> {
    try {
      return (await this.fs.stat(path.join(this.appDir, name))).size;
    } catch (e) {
      throw ioError(path.join(this.appDir, name), 'cannot stat', e);
    }
  }

  private async remove(name: string): Promise<void> {
    await this.fs.unlink(path.join(this.appDir, name)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw ioError(path.join(this.appDir, name), 'cannot remove', e);
    });
  }
}

interface OpenSegment {
  readonly name: string;
  readonly handle: FileHandle;
  length: number;
  readonly fill: SegmentFill;
}

/** One partition's writer: appends a section per checkpoint to its current segment, or starts a new one. */
class FileSegmentWriter implements PartitionWriter {
  private segment: OpenSegment | undefined;
  private busy = false;

  constructor(
    private readonly store: FileStateStore,
    readonly partition: string,
  ) {
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(partition)) throw new InvalidArgumentError(`a partition name is 1-100 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(partition)}`);
  }

  wantsFull(liveEntries: number): boolean {
    const s = this.segment;
    return !s || s.fill.compactionDue(liveEntries, this.store.compactRatio, this.store.compactMinBytes);
  }

  write(changes: PartitionChanges): Promise<PartitionExtent> {
    if (changes.partition !== this.partition) throw new InvalidArgumentError(`the writer of partition ${this.partition} was given partition ${changes.partition}'s changes`);
    if (this.busy) throw new InvalidArgumentError(`partition ${this.partition}: a checkpoint write is still under way; checkpoints are written one at a time`);
    if (!changes.full && !this.segment) throw new InvalidArgumentError(`partition ${this.partition}: the first write of a writer must be a full snapshot (wantsFull said so)`);
    // Encoded now, synchronously: the caller's tables may change as soon as this returns.
    const bytes = encodeSection(this.store.appId, changes, this.store.batchEntries);
    this.busy = true;
    return this.persist(changes, bytes).finally(() => {
      this.busy = false;
    });
  }

  private async persist(changes: PartitionChanges, bytes: Buffer): Promise<PartitionExtent> {
    const store = this.store;
    const id = changes.checkpointId;
    if (changes.full) {
      const name = segmentName(this.partition, id);
      const file = path.join(store.appDir, name);
      let handle: FileHandle | undefined;
      try {
        handle = await store.fs.open(file, 'w');
        await writeAll(handle, bytes, 0);
        await handle.sync();
      } catch (e) {
        await handle?.close().catch(() => {});
        await store.fs.unlink(file).catch(() => {});
        await this.drop();
        throw ioError(file, 'cannot write the snapshot', e);
      }
      // The new file's name must be durable before a manifest names it.
      await store.syncDir().catch(async (e) => {
        await handle!.close().catch(() => {});
        await this.drop();
        throw e;
      });
      const previous = this.segment;
      this.segment = { name, handle, length: bytes.length, fill: new SegmentFill(changes) };
      await previous?.handle.close().catch(() => {});
    } else {
      const s = this.segment!;
      const file = path.join(store.appDir, s.name);
      try {
        await writeAll(s.handle, bytes, s.length);
        await s.handle.sync();
      } catch (e) {
        // Bytes past the committed extent are ignored on recovery; the next checkpoint starts a new segment.
        await this.drop();
        throw ioError(file, 'cannot append to the changelog', e);
      }
      s.length += bytes.length;
      s.fill.addDelta(changes, bytes.length);
    }
    const s = this.segment!;
    return { partition: this.partition, file: s.name, length: s.length, keyGroups: { start: changes.keyGroups.start, end: changes.keyGroups.end }, checkpointId: id };
  }

  private async drop(): Promise<void> {
    const s = this.segment;
    this.segment = undefined;
    await s?.handle.close().catch(() => {});
  }

  async close(): Promise<void> {
    await this.drop();
    this.store.forget(this);
  }
}
