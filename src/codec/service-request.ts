import { InvalidValueError, MalformedRecordError, ValueOutOfRangeError } from './errors.js';
import { rootTable, type VectorSpan } from './flat-table.js';
import { ServiceRequest } from './generated/ringflow/wire.js';
import { checkUint32 } from './int64.js';
import { PAYLOAD_ALIGNMENT, RECORD_ALIGNMENT, ServiceRequestSlot } from './layout.js';
import { claimRegion, encodeToNewArray, regionOf, zeroBytes, type Region } from './memory.js';
import { checkPayloadBytes, deserialize, payloadLength, serialize, stringBytes, writePayload, type PayloadSource } from './payload.js';
import { RecordReader } from './record-reader.js';
import { alignUp, assertInternal, lengthPrefixAt, placeString, placeVector, stringEnd, TableHead, WordStamp } from './table-head.js';
import { readUtf8 } from './utf8.js';

/** Everything in a ServiceRequest but its arguments. */
export interface ServiceRequestHeader {
  /** Correlation id (uint32); the response carries the same one. */
  id: number;
  service: string;
  method: string;
  /** Absolute deadline in performance.timeOrigin-based ms (`performance.timeOrigin + performance.now()`); 0 = none. */
  deadline?: number;
  /** Which response ring the caller reads (uint32). Default 0. */
  replyRing?: number;
  /**
   * `service` and `method` encoded once (`serviceRequestNames(service, method)`); when set, the
   * names are taken from it and `service` and `method` are not read.
   */
  names?: ServiceRequestNames;
}

export interface ServiceRequestInit extends ServiceRequestHeader {
  /** The method's arguments; encoded by the value codec (src/codec/values). Default none. */
  args?: readonly unknown[];
}

interface RequestHead {
  readonly head: TableHead;
  readonly idAt: number;
  readonly serviceFieldAt: number;
  readonly methodFieldAt: number;
  readonly argsFieldAt: number;
  readonly deadlineAt: number;
  readonly replyRingAt: number;
}

let requestHead: RequestHead | undefined;

function buildRequestHead(): RequestHead {
  const head = new TableHead('ServiceRequest', (builder) => {
    const args = ServiceRequest.createArgsVector(builder, []);
    const method = builder.createString('');
    const service = builder.createString('');
    ServiceRequest.startServiceRequest(builder);
    ServiceRequest.addId(builder, 0);
    ServiceRequest.addService(builder, service);
    ServiceRequest.addMethod(builder, method);
    ServiceRequest.addArgs(builder, args);
    ServiceRequest.addDeadline(builder, 0);
    ServiceRequest.addReplyRing(builder, 0);
    return ServiceRequest.endServiceRequest(builder);
  });
  const deadlineAt = head.fieldAt(ServiceRequestSlot.deadline);
  assertInternal(deadlineAt % 8 === 0, 'ServiceRequest head has a misaligned deadline');
  return {
    head,
    idAt: head.fieldAt(ServiceRequestSlot.id),
    serviceFieldAt: head.fieldAt(ServiceRequestSlot.service),
    methodFieldAt: head.fieldAt(ServiceRequestSlot.method),
    argsFieldAt: head.fieldAt(ServiceRequestSlot.args),
    deadlineAt,
    replyRingAt: head.fieldAt(ServiceRequestSlot.replyRing),
  };
}

/**
 * A service name and a method name, checked, measured and UTF-8 encoded once: every byte of a
 * ServiceRequest before its arguments but the id, deadline and reply ring (the head, both names,
 * the padding and the offset to the arguments), stamped as a whole into each request. Get one
 * with `serviceRequestNames(service, method)`, keep it, and pass it to `requestSize` and to
 * `writeServiceRequest` (as `header.names`): a caller that names the same method again and again
 * then neither measures nor encodes the names again.
 */
export class ServiceRequestNames {
  readonly service: string;
  readonly method: string;
  /** @internal Where the arguments' length prefix goes; the arguments follow it. */
  readonly argsAt: number;
  /** @internal Every byte before it. */
  readonly prefix: WordStamp;

  /** Use `serviceRequestNames(service, method)`, which keeps the ones it made. */
  constructor(service: string, method: string) {
    const head = (requestHead ??= buildRequestHead());
    const serviceBytes = stringBytes(checkName(service, 'service'), 'the service name');
    const methodBytes = stringBytes(checkName(method, 'method'), 'the method name');
    this.service = service;
    this.method = method;
    this.argsAt = lengthPrefixAt(stringEnd(stringEnd(head.head.size, serviceBytes), methodBytes), PAYLOAD_ALIGNMENT);
    // The prefix, laid out by the same code as any record, then kept as a stamp.
    const image = new Uint8Array(this.argsAt + 8);
    const region = regionOf(image);
    head.head.stamp(region, 0);
    let cursor = placeString(region, 0, head.serviceFieldAt, head.head.size, service, serviceBytes);
    cursor = placeString(region, 0, head.methodFieldAt, cursor, method, methodBytes);
    placeVector(region, 0, head.argsFieldAt, cursor, this.argsAt, 0);
    this.prefix = new WordStamp(image.subarray(0, this.argsAt));
  }

  /** Bytes a ServiceRequest with these names takes whose arguments encode to `argsLength` bytes (a multiple of 8). */
  requestSize(argsLength: number): number {
    return alignUp(this.argsAt + 4 + checkPayloadBytes(argsLength, 'the arguments'), RECORD_ALIGNMENT);
  }
}

/** The names each thread has used, by service then method; forgotten all at once past a bound. */
const namesCache = new Map<string, Map<string, ServiceRequestNames>>();
let namesCached = 0;
const NAMES_CACHED_AT_MOST = 1024;

/** The encoded names of `service` and `method`: the same object each time (a thread keeps up to 1024). */
export function serviceRequestNames(service: string, method: string): ServiceRequestNames {
  let methods = namesCache.get(service);
  let names = methods?.get(method);
  if (names === undefined) {
    names = new ServiceRequestNames(service, method);
    if (namesCached >= NAMES_CACHED_AT_MOST) {
      namesCache.clear();
      namesCached = 0;
      methods = undefined;
    }
    if (methods === undefined) namesCache.set(service, (methods = new Map()));
    methods.set(method, names);
    namesCached++;
  }
  return names;
}

/** Bytes a ServiceRequest takes whose arguments encode to `argsLength` bytes (a multiple of 8). */
export function serviceRequestSize(service: string, method: string, argsLength: number): number {
  return serviceRequestNames(service, method).requestSize(argsLength);
}

/**
 * Writes a ServiceRequest (a complete FlatBuffer whose root offset is at `offset`) directly into
 * `bytes`, typically a frame claimed in a service's request ring. `args` are the already encoded
 * arguments (the value codec's bytes): bytes, or a PayloadWriter that writes them in place. Allocates
 * nothing (but the first time it meets a pair of names, without `header.names`).
 *
 * @param offset where the record starts; `bytes.byteOffset + offset` must be a multiple of 8
 * @returns the bytes written, `serviceRequestSize(service, method, args length)`
 */
export function writeServiceRequest(bytes: Uint8Array, offset: number, header: ServiceRequestHeader, args: PayloadSource): number {
  const { id, deadline = 0, replyRing = 0 } = header;
  checkUint32(id, 'id');
  checkUint32(replyRing, 'replyRing');
  if (typeof deadline !== 'number' || !(deadline >= 0) || deadline === Infinity) {
    throw new ValueOutOfRangeError(`deadline must be a finite number of ms >= 0 (0 = none), got ${String(deadline)}`);
  }
  const names = header.names ?? serviceRequestNames(header.service, header.method);
  const argsBytes = payloadLength(args);
  const size = alignUp(names.argsAt + 4 + argsBytes, RECORD_ALIGNMENT);
  const start = claimRegion(bytes, offset, size);
  stampServiceRequest(regionOf(bytes), start, names, id, deadline, replyRing, args, argsBytes);
  return size;
}

/**
 * @internal `writeServiceRequest` for a writer that has done its checks once: `region` is
 * `regionOf` the frame's bytes (made once), `start` the record's 8-aligned byte position in
 * their buffer, within the region's views; `id` and `replyRing` are uint32 and `argsBytes` is
 * `args`'s byte length, checked (`names.requestSize`). ServiceCaller writes every request with it:
 * the public writer's checks and region lookups cost ~100 ns, a few % of a round trip here.
 */
export function stampServiceRequest(
  region: Region,
  start: number,
  names: ServiceRequestNames,
  id: number,
  deadline: number,
  replyRing: number,
  args: PayloadSource,
  argsBytes: number,
): void {
  if (!(deadline >= 0 && deadline !== Infinity)) {
    throw new ValueOutOfRangeError(`deadline must be a finite number of ms >= 0 (0 = none), got ${String(deadline)}`);
  }
  const head = requestHead!;
  const argsAt = names.argsAt;
  const end = argsAt + 4 + argsBytes;
  names.prefix.stamp(region, start);
  region.u32[(start + head.idAt) >>> 2] = id;
  region.f64[(start + head.deadlineAt) >>> 3] = deadline;
  region.u32[(start + head.replyRingAt) >>> 2] = replyRing;
  region.u32[(start + argsAt) >>> 2] = argsBytes;
  writePayload(region.u8, start + argsAt + 4, args);
  zeroBytes(region, start + end, start + alignUp(end, RECORD_ALIGNMENT));
}

/** Encodes a request into a new Uint8Array, encoding its arguments with the value codec. */
export function encodeServiceRequest(request: ServiceRequestInit): Uint8Array {
  const args = encodeArgs(request.args);
  const size = serviceRequestSize(request.service, request.method, args.length);
  return encodeToNewArray(size, (target) => writeServiceRequest(target, 0, request, args));
}

const NO_BYTES = new Uint8Array(0);

/** No arguments travel as no bytes (decoded as []), which saves a serialize and a deserialize. */
function encodeArgs(args: readonly unknown[] | undefined): Uint8Array {
  if (args === undefined) return NO_BYTES;
  if (!Array.isArray(args)) throw new InvalidValueError('args must be an array');
  return args.length === 0 ? NO_BYTES : serialize(args, 'the call arguments');
}

function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string') throw new InvalidValueError(`${what} must be a string, got ${typeof name}`);
  return name;
}

/** Reads ServiceRequests in place; one reader serves a whole ring. */
export class ServiceRequestReader extends RecordReader {
  private correlation = 0;
  private serviceAt = 0;
  private serviceBytes = 0;
  private methodAt = 0;
  private methodBytes = 0;
  private argsAt = 0;
  private argsBytes = 0;
  private deadlineAt = -1;
  private ring = 0;
  private readonly fields = new TableFields(this.view, this.bytes.length);

  /**
   * Points the reader at the ServiceRequest whose root offset is at `offset` of `bytes`. A host
   * reads one per call: the table's vtable is read once here for all six fields (flat-table's
   * helpers read it again for each, and read the DataView's byteLength, a slow getter, for each
   * vector), with the same bounds checks.
   */
  read(offset: number): this {
    const fields = this.fields.root(offset, 'ServiceRequest');
    const span = this.span;
    fields.vector(ServiceRequestSlot.service, span);
    this.serviceAt = span.at;
    this.serviceBytes = span.length;
    fields.vector(ServiceRequestSlot.method, span);
    this.methodAt = span.at;
    this.methodBytes = span.length;
    fields.vector(ServiceRequestSlot.args, span);
    this.argsAt = span.at;
    this.argsBytes = span.length;
    this.correlation = fields.uint32(ServiceRequestSlot.id);
    this.deadlineAt = fields.position(ServiceRequestSlot.deadline);
    this.ring = fields.uint32(ServiceRequestSlot.replyRing);
    return this;
  }

  get id(): number {
    return this.correlation;
  }

  get service(): string {
    return readUtf8(this.bytes, this.serviceAt, this.serviceBytes);
  }

  get method(): string {
    return readUtf8(this.bytes, this.methodAt, this.methodBytes);
  }

  /** Absolute deadline in performance.timeOrigin-based ms; 0 = none. */
  get deadline(): number {
    return this.deadlineAt < 0 ? 0 : this.view.getFloat64(this.deadlineAt, true);
  }

  get replyRing(): number {
    return this.ring;
  }

  /** Where the encoded arguments lie in `bytes`: [argsOffset, argsOffset + argsLength); length 0 = none. */
  get argsOffset(): number {
    return this.argsAt;
  }

  get argsLength(): number {
    return this.argsBytes;
  }

  /** The encoded arguments as a view over `bytes` (no copy). */
  argsPayload(): Uint8Array {
    return this.bytes.subarray(this.argsAt, this.argsAt + this.argsBytes);
  }

  /** The arguments, deserialized into fresh objects ([] when none were sent). */
  args(): unknown[] {
    return this.argsBytes === 0 ? [] : (deserialize(this.argsPayload()) as unknown[]);
  }
}

/**
 * @internal The fields of one root table, its vtable read once (`root`): the in-place readers of the
 * service records, which read one record per call, use it instead of flat-table's per-field
 * helpers, with the same checks: the table, its vtable and its body lie in the buffer (`end`, its
 * byte length, kept: a DataView's byteLength is a slow getter in Node 20), fields in the table,
 * vectors in the buffer.
 */
export class TableFields {
  private table = 0;
  private vtable = 0;
  private vtableSize = 0;
  private tableSize = 0;

  constructor(
    private readonly view: DataView,
    private readonly end: number,
  ) {}

  /** Points at the root table of the record at `offset`, checked as flat-table's rootTable does. */
  root(offset: number, tableName: string): this {
    const view = this.view;
    const end = this.end;
    if (!(offset >= 0 && offset % 4 === 0 && offset + 4 <= end)) return this.badRoot(offset, tableName);
    const table = offset + view.getInt32(offset, true);
    if (table < offset || table + 4 > end || table % 4 !== 0) return this.badRoot(offset, tableName);
    const vtable = table - view.getInt32(table, true);
    if (vtable < 0 || vtable + 4 > end || vtable % 2 !== 0) return this.badRoot(offset, tableName);
    const vtableSize = view.getUint16(vtable, true);
    const tableSize = view.getUint16(vtable + 2, true);
    if (vtableSize < 4 || vtable + vtableSize > end || table + tableSize > end) return this.badRoot(offset, tableName);
    this.table = table;
    this.vtable = vtable;
    this.vtableSize = vtableSize;
    this.tableSize = tableSize;
    return this;
  }

  /** The slow path: rootTable throws the error that says what is wrong. */
  private badRoot(offset: number, tableName: string): never {
    rootTable(this.view, offset, tableName);
    throw new MalformedRecordError(`no ${tableName} at offset ${offset}`);
  }

  /** The table's position. */
  get tableAt(): number {
    return this.table;
  }

  /** Position of the field in vtable slot `slot`, or -1 when absent. */
  position(slot: number): number {
    if (slot >= this.vtableSize) return -1;
    const relative = this.view.getUint16(this.vtable + slot, true);
    if (relative === 0) return -1;
    if (relative >= this.tableSize) throw new MalformedRecordError(`a field of the table at ${this.table} lies outside the table`);
    return this.table + relative;
  }

  uint32(slot: number): number {
    const at = this.position(slot);
    return at < 0 ? 0 : this.view.getUint32(at, true);
  }

  uint8(slot: number): number {
    const at = this.position(slot);
    return at < 0 ? 0 : this.view.getUint8(at);
  }

  /** Where the byte vector (or string) in slot `slot` lies; both 0 when absent. */
  vector(slot: number, into: VectorSpan): VectorSpan {
    const field = this.position(slot);
    if (field < 0) {
      into.at = 0;
      into.length = 0;
      return into;
    }
    const view = this.view;
    const prefix = field + view.getInt32(field, true);
    if (prefix < field || prefix + 4 > this.end) throw new MalformedRecordError(`a vector of the table at ${this.table} starts outside the buffer`);
    const length = view.getInt32(prefix, true);
    if (length < 0 || prefix + 4 + length > this.end) throw new MalformedRecordError(`a vector of the table at ${this.table} runs past the end of the buffer`);
    into.at = prefix + 4;
    into.length = length;
    return into;
  }
}

export interface DecodedServiceRequest {
  id: number;
  service: string;
  method: string;
  args: unknown[];
  deadline: number;
  replyRing: number;
}

let sharedReader: ServiceRequestReader | undefined;

/** Decodes the ServiceRequest at `offset` into fresh objects. */
export function decodeServiceRequest(bytes: Uint8Array, offset = 0): DecodedServiceRequest {
  if (sharedReader?.bytes !== bytes) sharedReader = new ServiceRequestReader(bytes);
  const reader = sharedReader.read(offset);
  return {
    id: reader.id,
    service: reader.service,
    method: reader.method,
    args: reader.args(),
    deadline: reader.deadline,
    replyRing: reader.replyRing,
  };
}
