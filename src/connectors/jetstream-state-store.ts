/**
 * jetStreamStateStore: tables' checkpoints in a JetStream stream, so a job restarted on another
 * box (or in a second process that knows only the servers) recovers its tables there.
 *
 * Why a plain stream rather than a KV bucket: a partition's segment is an append-only log (a
 * snapshot, then a delta section per checkpoint), which is exactly one subject's messages in
 * order; a KV key keeps only its last value (history ≤ 64), so every chunk would need a key of its
 * own, a restore one get per chunk, and a removal one tombstone per chunk. On a stream a segment
 * is read with one ordered consumer and removed with one purge of its subject, and the manifest
 * gets the same compare-and-set KV's `update` uses (Nats-Expected-Last-Subject-Sequence), plus a
 * per-subject rollup so only the latest manifest is kept.
 *
 * Layout, for bucket B (stream `RINGFLOW_STATE_B`, subjects `$RFSTATE.B.>`):
 *
 * ```
 *  $RFSTATE.B.manifest          one message (rolled up): app, tables, maxParallelism, last committed checkpoint, owner
 *  $RFSTATE.B.seg.<file>        one segment: the bytes of FileStateStore's segment format, cut into messages
 *                               of at most the server's max_payload; headers: Ringflow-Offset (byte offset of the
 *                               message in the segment), Ringflow-Checkpoint, Ringflow-Section-End on a section's last
 * ```
 * `<file>` is `<partition, '.' as '~'>-<checkpoint id, 10 digits>-<writer nonce>`: every writer
 * instance writes its own segments, so a writer of a process that was fenced off never appends to
 * a segment another process reads. An extent's `length` is bytes, as in the file store.
 *
 * Atomic commit and fencing: the manifest is published with the expected last sequence of its
 * subject; `open()` first re-publishes it (taking ownership), so after another process opens the
 * bucket, this one's commits fail with StateCommitConflictError instead of naming segments the
 * other one removed. Old segments are purged only after a committed manifest no longer names them.
 *
 * Durability is the server's: a write resolves when every message of it is acknowledged (stored;
 * with `replicas` > 1, on a quorum of servers).
 */
import { DiscardPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { connectNats, serverList, type NatsConnection } from '../nats/index.js';
import { InvalidArgumentError } from '../errors.js';
import {
  StateAppMismatchError,
  StateCorruptionError,
  StateIOError,
  SegmentFill,
  checkMaxParallelism,
  checkStoredApp,
  checkpointToCommit,
  encodeSectionBody,
  encodeSegmentHeader,
  replaySegment,
  type AppStateSpec,
  type CheckpointCommit,
  type CommittedCheckpoint,
  type KeyGroupRange,
  type OpenedState,
  type PartitionChanges,
  type PartitionExtent,
  type PartitionWriter,
  type RestoreSink,
  type RestoreStats,
  type StateStore,
  type StateWarning,
  type StoredTableDeclaration,
} from '../state/index.js';
import { JetStreamUnavailableError, StateCommitConflictError } from './errors.js';
import { checkKeys, positiveInteger, positiveNumber } from './options.js';

export interface JetStreamStateStoreOptions {
  /** NATS server URL(s). */
  servers: string | string[];
  /** The bucket (one app's state): 1-64 characters of A-Z a-z 0-9 _ -. Its stream is created by `open()` if missing. */
  bucket: string;
  /** When set, `open()` refuses a spec of another app (as FileStateStore's appId does). */
  appId?: string;
  /** Stream replicas when the stream is created (a cluster). Default 1. */
  replicas?: number;
  /** Bytes per message at most; default and ceiling: the server's max_payload less 4 KiB for headers. */
  chunkBytes?: number;
  /** Start a new segment once the current one holds more than this times its live entries in dead ones (see SegmentFill) ... Default 1. */
  compactRatio?: number;
  /** ... and its deltas exceed this many bytes. Default 4 MiB. */
  compactMinBytes?: number;
  /** Entries per frame. Default 4096. */
  batchEntries?: number;
  /** Publishes awaiting their acks at once, per write. Default 8. */
  maxInFlight?: number;
  /** How long one request (a publish's ack, a read) may take (ms). Default 10 000. */
  requestTimeoutMs?: number;
  /** Budget of the first connect (ms). Default 5000. */
  connectTimeoutMs?: number;
}

const KEYS = ['servers', 'bucket', 'appId', 'replicas', 'chunkBytes', 'compactRatio', 'compactMinBytes', 'batchEntries', 'maxInFlight', 'requestTimeoutMs', 'connectTimeoutMs'] as const;
const BUCKET = /^[A-Za-z0-9_-]{1,64}$/;
const APP_ID = /^[A-Za-z0-9_.-]{1,100}$/;
const PARTITION = /^[A-Za-z0-9_.-]{1,100}$/;
const MANIFEST_FORMAT = 'ringflow-state-manifest';
const MANIFEST_VERSION = 1;
/** `<partition>-<checkpoint>-<nonce>`; the partition's '.' are '~' (a subject token holds no '.'). */
const SEGMENT_FILE = /^([A-Za-z0-9_~-]+)-(\d{10})-([a-z0-9]{10})$/;
const HEADER_ROOM = 4096;

export const STATE_HEADERS = {
  offset: 'Ringflow-Offset',
  checkpoint: 'Ringflow-Checkpoint',
  sectionEnd: 'Ringflow-Section-End',
} as const;

/** JetStream API error codes the store acts on. */
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
const WRONG_LAST_SEQUENCE = 10071;
const NO_MESSAGE_FOUND = 10037;

interface ManifestBody {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: number;
  readonly appId: string;
  readonly maxParallelism: number;
  readonly tables: readonly StoredTableDeclaration[];
  readonly checkpoint: CommittedCheckpoint | null;
  /** The store instance that opened the bucket last: only it may commit. */
  readonly owner: string;
  readonly openedAt: string;
}

interface Connection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly chunkBytes: number;
}

export function jetStreamStateStore(options: JetStreamStateStoreOptions): JetStreamStateStore {
  return new JetStreamStateStore(options);
}

function nonce(): string {
  let out = '';
  while (out.length < 10) out += Math.floor(Math.random() * 36 ** 5).toString(36).padStart(5, '0');
  return out.slice(0, 10);
}

function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

export class JetStreamStateStore implements StateStore {
  readonly bucket: string;
  readonly stream: string;
  /** Plain data: another thread or process makes the same store with `jetStreamStateStore(store.options)`. */
  readonly options: Readonly<JetStreamStateStoreOptions>;
  /** @internal */ readonly root: string;
  /** @internal */ readonly compactRatio: number;
  /** @internal */ readonly compactMinBytes: number;
  /** @internal */ readonly batchEntries: number;
  /** @internal */ readonly maxInFlight: number;
  /** @internal */ readonly requestTimeoutMs: number;
  private readonly servers: string[];
  private readonly appId: string | undefined;
  private readonly replicas: number;
  private readonly chunkLimit: number | undefined;
  private readonly connectTimeoutMs: number;
  /** This instance's name, in segment names and as the manifest's owner. */
  /** @internal */ readonly nonce = nonce();
  private connection: Promise<Connection> | undefined;
  private manifest: ManifestBody | undefined;
  /** The stream sequence of the manifest this store wrote last (its compare-and-set). */
  private revision = 0;
  private readonly writers = new Set<JetStreamSegmentWriter>();
  private appIdRead: Promise<string> | undefined;

  constructor(options: JetStreamStateStoreOptions) {
    const o = checkKeys('jetStreamStateStore', options, KEYS);
    this.servers = serverList(o.servers, 'jetStreamStateStore');
    if (typeof o.bucket !== 'string' || !BUCKET.test(o.bucket)) {
      throw new InvalidArgumentError(`jetStreamStateStore: bucket is 1-64 characters of A-Z a-z 0-9 _ -, got ${JSON.stringify(o.bucket)}`);
    }
    if (o.appId !== undefined && (typeof o.appId !== 'string' || !APP_ID.test(o.appId))) {
      throw new InvalidArgumentError(`an appId is 1-100 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(o.appId)}`);
    }
    this.bucket = o.bucket;
    this.stream = `RINGFLOW_STATE_${o.bucket}`;
    this.root = `$RFSTATE.${o.bucket}`;
    this.appId = o.appId as string | undefined;
    this.replicas = positiveInteger('jetStreamStateStore replicas', o.replicas, 1);
    this.chunkLimit = o.chunkBytes === undefined ? undefined : positiveInteger('jetStreamStateStore chunkBytes', o.chunkBytes, 1);
    this.compactRatio = positiveNumber('jetStreamStateStore compactRatio', o.compactRatio, 1);
    this.compactMinBytes = positiveInteger('jetStreamStateStore compactMinBytes', o.compactMinBytes, 4 * 1024 * 1024);
    this.batchEntries = positiveInteger('jetStreamStateStore batchEntries', o.batchEntries, 4096);
    this.maxInFlight = positiveInteger('jetStreamStateStore maxInFlight', o.maxInFlight, 8);
    this.requestTimeoutMs = positiveInteger('jetStreamStateStore requestTimeoutMs', o.requestTimeoutMs, 10_000);
    this.connectTimeoutMs = positiveInteger('jetStreamStateStore connectTimeoutMs', o.connectTimeoutMs, 5000);
    this.options = Object.freeze({ ...(options as JetStreamStateStoreOptions) });
  }

  /** The last committed checkpoint, once opened. */
  get committed(): CommittedCheckpoint | undefined {
    return this.manifest?.checkpoint ?? undefined;
  }

  /** @internal */
  get manifestSubject(): string {
    return `${this.root}.manifest`;
  }

  /** @internal */
  segmentSubject(file: string): string {
    return `${this.root}.seg.${file}`;
  }

  /** @internal How a segment is named in errors and warnings. */
  where(file: string): string {
    return `jetstream:${this.stream}/${this.segmentSubject(file)}`;
  }

  /** @internal */
  connect(): Promise<Connection> {
    this.connection ??= (async () => {
      const nc = await connectNats(this.servers, { name: `ringflow-state:${this.bucket}`, connectTimeoutMs: this.connectTimeoutMs });
      try {
        const jsm = await jetstreamManager(nc, { timeout: this.requestTimeoutMs }).catch((error: unknown) => {
          throw new JetStreamUnavailableError(this.servers, { cause: error });
        });
        const js = jetstream(nc, { timeout: this.requestTimeoutMs });
        const serverMax = nc.info?.max_payload ?? 1024 * 1024;
        const chunkBytes = Math.max(1, Math.min(this.chunkLimit ?? Infinity, serverMax - HEADER_ROOM));
        return { nc, js, jsm, chunkBytes };
      } catch (error) {
        await nc.close().catch(() => undefined);
        throw error;
      }
    })();
    this.connection.catch(() => (this.connection = undefined)); // a later call tries again
    return this.connection;
  }

  async open(spec: AppStateSpec): Promise<OpenedState> {
    if (this.appId !== undefined && spec.appId !== this.appId) {
      throw new StateAppMismatchError(`the store is for app '${this.appId}', open() was asked for '${spec.appId}'`);
    }
    checkMaxParallelism(spec.maxParallelism);
    const { jsm, js } = await this.connect();
    await this.ensureStream(jsm);
    const where = `JetStream bucket '${this.bucket}'`;
    // Take ownership: re-publish the manifest with this instance as its owner, compare-and-set on
    // the one read. Whoever commits or opens in between makes this read again.
    let body: ManifestBody | undefined;
    for (let attempt = 0; ; attempt++) {
      const stored = await this.readManifest(jsm);
      if (stored) checkStoredApp(stored.body, spec, where, 'bucket');
      body = {
        format: MANIFEST_FORMAT,
        version: MANIFEST_VERSION,
        appId: spec.appId,
        maxParallelism: stored?.body.maxParallelism ?? spec.maxParallelism,
        tables: stored?.body.tables ?? spec.tables,
        checkpoint: stored?.body.checkpoint ?? null,
        owner: this.nonce,
        openedAt: new Date().toISOString(),
      };
      try {
        this.revision = await this.publishManifest(js, body, stored?.seq ?? 0);
        break;
      } catch (error) {
        if (!(error instanceof StateCommitConflictError) || attempt >= 4) throw error;
      }
    }
    this.manifest = body;
    const checkpoint = body.checkpoint;
    const warnings: StateWarning[] = [];
    const referenced = new Map((checkpoint?.partitions ?? []).map((p) => [p.file, p]));
    for (const file of await this.segmentFiles(jsm)) {
      if (referenced.has(file)) continue;
      const last = await this.lastMessage(jsm, file);
      await this.purge(jsm, file);
      warnings.push({
        code: 'STATE_UNCOMMITTED_SEGMENT',
        file: this.where(file),
        offset: 0,
        bytes: last ? endOf(last) : 0,
        message: 'a segment no committed checkpoint names was discarded (written for a checkpoint that never committed)',
      });
    }
    for (const extent of referenced.values()) {
      const last = await this.lastMessage(jsm, extent.file);
      const where = this.where(extent.file);
      if (!last) throw new StateCorruptionError(where, 0, 'the segment the committed checkpoint names is missing');
      const end = endOf(last);
      if (end < extent.length) throw new StateCorruptionError(where, end, `the segment ends before its committed extent (${extent.length} bytes)`);
      if (end === extent.length) continue;
      warnings.push(
        last.header.get(STATE_HEADERS.sectionEnd) === ''
          ? {
              code: 'STATE_TORN_TAIL',
              file: where,
              offset: extent.length,
              bytes: end - extent.length,
              message: `a checkpoint write cut short (its last message never reached the server) after the last committed checkpoint ${extent.checkpointId}: recovered to offset ${extent.length}; ${end - extent.length} bytes past it are ignored`,
            }
          : {
              code: 'STATE_UNCOMMITTED_DATA',
              file: where,
              offset: extent.length,
              bytes: end - extent.length,
              message: `${end - extent.length} bytes written for a checkpoint after ${extent.checkpointId} that never committed are ignored`,
            },
      );
    }
    return { checkpoint: checkpoint ?? undefined, warnings };
  }

  /** Each keyed stage's worker makes its own store of the same bucket (for writer() and restore()). */
  workerFactory(): { module: string; export: string; options: JetStreamStateStoreOptions } {
    const appId = this.manifest?.appId ?? this.appId;
    return { module: import.meta.url, export: 'jetStreamStateStore', options: { ...this.options, ...(appId === undefined ? {} : { appId }) } };
  }

  writer(partition: string): PartitionWriter {
    const w = new JetStreamSegmentWriter(this, partition);
    this.writers.add(w);
    return w;
  }

  async commit(commit: CheckpointCommit): Promise<CommittedCheckpoint> {
    const manifest = this.manifest;
    if (!manifest) throw new InvalidArgumentError('JetStreamStateStore.commit: open() the store first');
    const checkpoint = checkpointToCommit(commit, manifest.checkpoint, manifest.maxParallelism, manifest.tables.length);
    const { js, jsm } = await this.connect();
    const body: ManifestBody = { ...manifest, checkpoint };
    this.revision = await this.publishManifest(js, body, this.revision);
    this.manifest = body;
    await this.collectGarbage(jsm, checkpoint).catch(() => undefined); // what is left is removed at the next commit or open
    return checkpoint;
  }

  async restore(checkpoint: CommittedCheckpoint, range: KeyGroupRange, sink: RestoreSink): Promise<RestoreStats> {
    let files = 0;
    let bytesRead = 0;
    let puts = 0;
    let deletes = 0;
    const connection = await this.connect();
    for (const extent of checkpoint.partitions) {
      if (extent.keyGroups.end <= range.start || extent.keyGroups.start >= range.end) continue;
      const bytes = await this.readSegment(connection, extent);
      files++;
      bytesRead += extent.length;
      const appId = await this.storedAppId();
      const counts = replaySegment(bytes, extent, appId, this.where(extent.file), range, sink);
      puts += counts.puts;
      deletes += counts.deletes;
    }
    return { files, bytes: bytesRead, puts, deletes };
  }

  async close(): Promise<void> {
    await Promise.all([...this.writers].map((w) => w.close()));
    this.writers.clear();
    const connection = this.connection;
    this.connection = undefined;
    if (!connection) return;
    const { nc } = await connection.catch(() => ({ nc: undefined }));
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  /** @internal */
  forget(writer: JetStreamSegmentWriter): void {
    this.writers.delete(writer);
  }

  /** @internal The app whose state the bucket holds (written into and checked against segments' header frames). */
  async storedAppId(): Promise<string> {
    if (this.manifest) return this.manifest.appId;
    this.appIdRead ??= this.connect()
      .then(({ jsm }) => this.readManifest(jsm))
      .then((stored) => {
        if (!stored) throw new InvalidArgumentError(`JetStream bucket '${this.bucket}' has no state yet: open() it (on the coordinator) before writing or restoring`);
        return stored.body.appId;
      });
    this.appIdRead.catch(() => (this.appIdRead = undefined));
    return this.appIdRead;
  }

  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    try {
      await jsm.streams.info(this.stream);
      return;
    } catch (error) {
      if (apiCode(error) !== STREAM_NOT_FOUND) throw new StateIOError(`JetStream bucket '${this.bucket}': cannot read stream ${this.stream}`, error);
    }
    try {
      await jsm.streams.add({
        name: this.stream,
        subjects: [`${this.root}.>`],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.New,
        num_replicas: this.replicas,
        allow_rollup_hdrs: true,
        max_msgs_per_subject: -1,
        description: `ringflow table state, bucket ${this.bucket}`,
      });
    } catch (error) {
      if (apiCode(error) === STREAM_NAME_IN_USE) return; // another process made it first
      throw new StateIOError(`JetStream bucket '${this.bucket}': cannot create stream ${this.stream}`, error);
    }
  }

  private async readManifest(jsm: JetStreamManager): Promise<{ body: ManifestBody; seq: number } | undefined> {
    let m: StoredMsg | null;
    try {
      m = await jsm.streams.getMessage(this.stream, { last_by_subj: this.manifestSubject });
    } catch (error) {
      if (apiCode(error) === NO_MESSAGE_FOUND || apiCode(error) === STREAM_NOT_FOUND) return undefined;
      throw new StateIOError(`JetStream bucket '${this.bucket}': cannot read the manifest`, error);
    }
    if (!m) return undefined;
    const where = `jetstream:${this.stream}/${this.manifestSubject}`;
    let body: ManifestBody;
    try {
      body = JSON.parse(new TextDecoder().decode(m.data)) as ManifestBody;
    } catch (e) {
      throw new StateCorruptionError(where, 0, `the manifest is not JSON: ${String((e as Error).message)}`);
    }
    if (body?.format !== MANIFEST_FORMAT) throw new StateCorruptionError(where, 0, 'not a ringflow state manifest');
    if (body.version !== MANIFEST_VERSION) throw new StateCorruptionError(where, 0, `manifest version ${body.version}, this build reads ${MANIFEST_VERSION}`);
    return { body, seq: m.seq };
  }

  /** Publishes the manifest if its subject's last message is still `expected` (0: none); returns the new one's sequence. */
  private async publishManifest(js: JetStreamClient, body: ManifestBody, expected: number): Promise<number> {
    const h = headers();
    h.set('Nats-Rollup', 'sub'); // only the latest manifest is kept
    const data = new TextEncoder().encode(JSON.stringify(body));
    try {
      const ack = await js.publish(this.manifestSubject, data, { headers: h, expect: { lastSubjectSequence: expected } });
      return ack.seq;
    } catch (error) {
      if (apiCode(error) === WRONG_LAST_SEQUENCE) throw new StateCommitConflictError(this.bucket, body.checkpoint?.id, { cause: error });
      throw new StateIOError(`JetStream bucket '${this.bucket}': cannot write the checkpoint manifest (${data.length} bytes)`, error);
    }
  }

  private async segmentFiles(jsm: JetStreamManager): Promise<string[]> {
    const prefix = `${this.root}.seg.`;
    let info;
    try {
      info = await jsm.streams.info(this.stream, { subjects_filter: `${prefix}>` });
    } catch (error) {
      throw new StateIOError(`JetStream bucket '${this.bucket}': cannot list segments`, error);
    }
    return Object.keys(info.state.subjects ?? {})
      .filter((s) => s.startsWith(prefix))
      .map((s) => s.slice(prefix.length));
  }

  private async lastMessage(jsm: JetStreamManager, file: string): Promise<StoredMsg | undefined> {
    try {
      return (await jsm.streams.getMessage(this.stream, { last_by_subj: this.segmentSubject(file) })) ?? undefined;
    } catch (error) {
      if (apiCode(error) === NO_MESSAGE_FOUND) return undefined;
      throw new StateIOError(`cannot read ${this.where(file)}`, error);
    }
  }

  private async purge(jsm: JetStreamManager, file: string): Promise<void> {
    try {
      await jsm.streams.purge(this.stream, { filter: this.segmentSubject(file) });
    } catch (error) {
      throw new StateIOError(`cannot remove ${this.where(file)}`, error);
    }
  }

  /** Purges segments the committed checkpoint does not name, of it or earlier ones (later ones may be being written). */
  private async collectGarbage(jsm: JetStreamManager, checkpoint: CommittedCheckpoint): Promise<void> {
    const referenced = new Set(checkpoint.partitions.map((p) => p.file));
    for (const file of await this.segmentFiles(jsm)) {
      const m = SEGMENT_FILE.exec(file);
      if (m && !referenced.has(file) && Number(m[2]) <= checkpoint.id) await this.purge(jsm, file);
    }
  }

  /** A segment's bytes [0, extent.length), message by message, each where its offset header says. */
  private async readSegment(connection: Connection, extent: PartitionExtent): Promise<Buffer> {
    const where = this.where(extent.file);
    const last = await this.lastMessage(connection.jsm, extent.file);
    if (!last) throw new StateCorruptionError(where, 0, 'the segment the committed checkpoint names is missing');
    if (endOf(last) < extent.length) throw new StateCorruptionError(where, endOf(last), `the segment ends before its committed extent (${extent.length} bytes)`);
    const parts: Uint8Array[] = [];
    let have = 0;
    if (extent.length === 0) return Buffer.alloc(0);
    let consumer;
    try {
      consumer = await connection.js.consumers.get(this.stream, { filter_subjects: this.segmentSubject(extent.file) });
    } catch (error) {
      throw new StateIOError(`cannot read ${where}`, error);
    }
    const messages = await consumer.consume({ max_messages: 16 });
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new StateIOError(`cannot read ${where}`, new Error(`no message for ${this.requestTimeoutMs} ms at offset ${have} of ${extent.length}`));
      void messages.close();
    }, this.requestTimeoutMs);
    try {
      for await (const m of messages) {
        timer.refresh();
        const offset = Number(m.headers?.get(STATE_HEADERS.offset));
        if (offset !== have) {
          failure = new StateCorruptionError(where, have, `a message of the segment is missing: the next one starts at offset ${Number.isFinite(offset) ? offset : '(none)'}`);
          break;
        }
        parts.push(m.data);
        have += m.data.length;
        if (have >= extent.length) break;
        if (m.info.pending === 0) {
          failure = new StateCorruptionError(where, have, `the segment ends before its committed extent (${extent.length} bytes)`);
          break;
        }
      }
    } finally {
      clearTimeout(timer);
      await messages.close().catch(() => undefined);
    }
    if (failure) throw failure;
    if (have < extent.length) throw new StateCorruptionError(where, have, `the segment ends before its committed extent (${extent.length} bytes)`);
    return Buffer.concat(parts);
  }
}

function endOf(m: StoredMsg): number {
  return Number(m.header?.get(STATE_HEADERS.offset) ?? 0) + m.data.length;
}

interface OpenSegment {
  readonly file: string;
  length: number;
  readonly fill: SegmentFill;
}

/** One partition's writer: appends a section per checkpoint to its current segment's subject, or starts a new one. */
class JetStreamSegmentWriter implements PartitionWriter {
  private segment: OpenSegment | undefined;
  private busy = false;

  constructor(
    private readonly store: JetStreamStateStore,
    readonly partition: string,
  ) {
    if (!PARTITION.test(partition)) throw new InvalidArgumentError(`a partition name is 1-100 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(partition)}`);
  }

  wantsFull(liveEntries: number): boolean {
    const s = this.segment;
    return !s || s.fill.compactionDue(liveEntries, this.store.compactRatio, this.store.compactMinBytes);
  }

  write(changes: PartitionChanges): Promise<PartitionExtent> {
    if (changes.partition !== this.partition) throw new InvalidArgumentError(`the writer of partition ${this.partition} was given partition ${changes.partition}'s changes`);
    if (this.busy) throw new InvalidArgumentError(`partition ${this.partition}: a checkpoint write is still under way; checkpoints are written one at a time`);
    if (!changes.full && !this.segment) throw new InvalidArgumentError(`partition ${this.partition}: the first write of a writer must be a full snapshot (wantsFull said so)`);
    // The values are encoded now (the caller may change its tables at once); the header frame once the appId is known.
    const body = encodeSectionBody(changes, this.store.batchEntries);
    this.busy = true;
    const bytes = changes.full ? this.store.storedAppId().then((appId) => Buffer.concat([encodeSegmentHeader(appId, changes), body])) : Promise.resolve(body);
    return bytes
      .then((b) => this.persist(changes, b))
      .finally(() => {
        this.busy = false;
      });
  }

  private async persist(changes: PartitionChanges, bytes: Buffer): Promise<PartitionExtent> {
    const store = this.store;
    const id = changes.checkpointId;
    let segment = this.segment;
    if (changes.full) {
      const file = `${this.partition.replaceAll('.', '~')}-${String(id).padStart(10, '0')}-${store.nonce}`;
      segment = { file, length: 0, fill: new SegmentFill(changes) };
    }
    const s = segment!;
    const subject = store.segmentSubject(s.file);
    try {
      const { js, chunkBytes } = await store.connect();
      const pieces = Math.max(1, Math.ceil(bytes.length / chunkBytes));
      const inFlight = new Set<Promise<unknown>>();
      let failed: unknown;
      for (let i = 0; i < pieces && failed === undefined; i++) {
        const h = headers();
        h.set(STATE_HEADERS.offset, String(s.length + i * chunkBytes));
        h.set(STATE_HEADERS.checkpoint, String(id));
        if (i === pieces - 1) h.set(STATE_HEADERS.sectionEnd, '1');
        const p = js.publish(subject, bytes.subarray(i * chunkBytes, (i + 1) * chunkBytes), { headers: h, expect: { streamName: store.stream } }).then(
          () => void inFlight.delete(p),
          (error: unknown) => {
            inFlight.delete(p);
            failed ??= error;
          },
        );
        inFlight.add(p);
        if (inFlight.size >= store.maxInFlight) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (failed !== undefined) throw failed;
    } catch (error) {
      // What reached the server lies past the committed extent and is ignored; the next write starts a new segment.
      this.segment = undefined;
      if (error instanceof StateIOError || (error as { code?: string })?.code === 'ERR_NATS_CONNECT') throw error;
      throw new StateIOError(`cannot write checkpoint ${id} of partition ${this.partition} to ${store.where(s.file)}`, error);
    }
    s.length += bytes.length;
    if (!changes.full) s.fill.addDelta(changes, bytes.length);
    this.segment = s;
    return { partition: this.partition, file: s.file, length: s.length, keyGroups: { start: changes.keyGroups.start, end: changes.keyGroups.end }, checkpointId: id };
  }

  async close(): Promise<void> {
    this.segment = undefined;
    this.store.forget(this);
  }
}
