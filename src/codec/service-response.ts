import { Builder } from 'flatbuffers';
import { MalformedRecordError } from './errors.js';
import { fieldPosition, readVector } from './flat-table.js';
import { TableFields } from './service-request.js';
import { ErrorInfo as ErrorInfoTable, ServiceResponse } from './generated/ringflow/wire.js';
import { checkUint32 } from './int64.js';
import { ErrorInfoSlot, PAYLOAD_ALIGNMENT, RECORD_ALIGNMENT, ServiceResponseSlot } from './layout.js';
import { claimRegion, encodeToNewArray, regionOf, zeroBytes, type Region } from './memory.js';
import { checkPayloadBytes, deserialize, payloadLength, serialize, writePayload, type PayloadSource } from './payload.js';
import { RecordReader } from './record-reader.js';
import { alignUp, lengthPrefixAt, placeVector, TableHead } from './table-head.js';
import { readUtf8 } from './utf8.js';

/** A failure as it crosses threads: the thrown error's code, name, message and stack. */
export interface ErrorInfo {
  code: string;
  name: string;
  message: string;
  stack: string;
}

export type ServiceResponseInit =
  | { id: number; ok: true; result?: unknown }
  | { id: number; ok: false; error: unknown };

export type DecodedServiceResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: ErrorInfo };

// ---------------------------------------------------------------- success: written in place

interface ResultHead {
  readonly head: TableHead;
  readonly idAt: number;
  readonly resultFieldAt: number;
  /** Where the result's length prefix goes: right after the head, the bytes 8-aligned. */
  readonly resultLengthAt: number;
}

let resultHead: ResultHead | undefined;

function buildResultHead(): ResultHead {
  const head = new TableHead('ServiceResponse', (builder) => {
    const result = ServiceResponse.createResultVector(builder, []);
    ServiceResponse.startServiceResponse(builder);
    ServiceResponse.addId(builder, 0);
    ServiceResponse.addOk(builder, true);
    ServiceResponse.addResult(builder, result);
    return ServiceResponse.endServiceResponse(builder);
  });
  return {
    head,
    idAt: head.fieldAt(ServiceResponseSlot.id),
    resultFieldAt: head.fieldAt(ServiceResponseSlot.result),
    resultLengthAt: lengthPrefixAt(head.size, PAYLOAD_ALIGNMENT),
  };
}

/** Bytes a successful ServiceResponse takes whose result encodes to `resultLength` bytes (a multiple of 8). */
export function serviceResponseSize(resultLength: number): number {
  const head = (resultHead ??= buildResultHead());
  return alignUp(head.resultLengthAt + 4 + checkPayloadBytes(resultLength, 'the result'), RECORD_ALIGNMENT);
}

/**
 * Writes a successful ServiceResponse (ok = true) directly into `bytes`, typically a frame claimed
 * in the caller's response ring. `result` is the already encoded return value (the value codec's bytes
 * format; zero bytes mean undefined): bytes, or a PayloadWriter. Allocates nothing. Failures are
 * rarer and carry strings: `encodeServiceResponse` builds those.
 *
 * @param offset where the record starts; `bytes.byteOffset + offset` must be a multiple of 8
 * @returns the bytes written, `serviceResponseSize(result length)`
 */
export function writeServiceResponse(bytes: Uint8Array, offset: number, id: number, result: PayloadSource): number {
  const head = (resultHead ??= buildResultHead());
  checkUint32(id, 'id');
  const resultBytes = payloadLength(result);
  const end = head.resultLengthAt + 4 + resultBytes;
  const size = alignUp(end, RECORD_ALIGNMENT);
  const start = claimRegion(bytes, offset, size);
  const region = regionOf(bytes);
  head.head.stamp(region, start);
  region.u32[(start + head.idAt) >>> 2] = id;
  const dataAt = placeVector(region, start, head.resultFieldAt, head.head.size, head.resultLengthAt, resultBytes);
  writePayload(region.u8, start + dataAt, result);
  zeroBytes(region, start + end, start + size);
  return size;
}

/**
 * @internal `writeServiceResponse` for a writer that has done its checks once: `region` is
 * `regionOf` the frame's bytes (made once), `start` the record's 8-aligned byte position in their
 * buffer, within the region's views; `id` is a uint32 and `resultBytes` the result's byte length,
 * checked (`serviceResponseSize`). ServiceHost answers with it: the public writer's checks and
 * region lookups cost ~100 ns, a few % of a round trip here.
 */
export function stampServiceResponse(region: Region, start: number, id: number, result: PayloadSource, resultBytes: number): void {
  const head = resultHead!;
  const end = head.resultLengthAt + 4 + resultBytes;
  head.head.stamp(region, start);
  region.u32[(start + head.idAt) >>> 2] = id;
  const dataAt = placeVector(region, start, head.resultFieldAt, head.head.size, head.resultLengthAt, resultBytes);
  writePayload(region.u8, start + dataAt, result);
  zeroBytes(region, start + end, start + alignUp(end, RECORD_ALIGNMENT));
}

// ---------------------------------------------------------------- any response: a new Uint8Array

const NO_BYTES = new Uint8Array(0);

/**
 * Encodes a response into a new Uint8Array: a result is encoded by the value codec (undefined travels as no
 * bytes); an error becomes an ErrorInfo (`toErrorInfo`).
 */
export function encodeServiceResponse(response: ServiceResponseInit): Uint8Array {
  if (response.ok) {
    const result = response.result === undefined ? NO_BYTES : serialize(response.result, 'the call result');
    return encodeToNewArray(serviceResponseSize(result.length), (target) => writeServiceResponse(target, 0, response.id, result));
  }
  checkUint32(response.id, 'id');
  return encodeFailure(response.id, toErrorInfo(response.error));
}

/** Failures go through the flatbuffers Builder: they are rare, and their strings make a nested table. */
function encodeFailure(id: number, info: ErrorInfo): Uint8Array {
  const builder = new Builder(256 + 3 * (info.message.length + info.stack.length));
  builder.prep(RECORD_ALIGNMENT, 0); // size the record in multiples of 8, like every other record
  const code = builder.createString(info.code);
  const name = builder.createString(info.name);
  const message = builder.createString(info.message);
  const stack = builder.createString(info.stack);
  const error = ErrorInfoTable.createErrorInfo(builder, code, name, message, stack);
  ServiceResponse.startServiceResponse(builder);
  ServiceResponse.addId(builder, id);
  ServiceResponse.addOk(builder, false);
  ServiceResponse.addError(builder, error);
  builder.finish(ServiceResponse.endServiceResponse(builder));
  return builder.asUint8Array().slice();
}

/**
 * What a thrown value looks like on the wire. An Error keeps its name, message, stack and string
 * (or numeric) `code`; anything else thrown becomes an 'Error' whose message is its string form.
 * Never throws, whatever the value's getters do.
 */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    return {
      code: safely(() => {
        const code = (error as { code?: unknown }).code;
        return typeof code === 'string' || typeof code === 'number' ? String(code) : '';
      }),
      name: safely(() => String(error.name)),
      message: safely(() => String(error.message)),
      stack: safely(() => String(error.stack ?? '')),
    };
  }
  return { code: '', name: 'Error', message: safely(() => String(error)), stack: '' };
}

function safely(read: () => string): string {
  try {
    return read();
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- reading

/** Reads ServiceResponses in place; one reader serves a whole ring. */
export class ServiceResponseReader extends RecordReader {
  private correlation = 0;
  // A 0/1 number rather than a boolean: with a boolean field, V8 (Node 20) allocated on every read().
  private succeeded = 0;
  private resultAt = 0;
  private resultBytes = 0;
  private table = 0;
  private readonly fields = new TableFields(this.view, this.bytes.length);

  /** Points the reader at the ServiceResponse whose root offset is at `offset` of `bytes`. */
  read(offset: number): this {
    // One vtable read for the three fields (TableFields); a caller reads one response per call.
    const fields = this.fields.root(offset, 'ServiceResponse');
    const result = fields.vector(ServiceResponseSlot.result, this.span);
    this.resultAt = result.at;
    this.resultBytes = result.length;
    this.correlation = fields.uint32(ServiceResponseSlot.id);
    this.succeeded = fields.uint8(ServiceResponseSlot.ok);
    this.table = fields.tableAt;
    return this;
  }

  get id(): number {
    return this.correlation;
  }

  get ok(): boolean {
    return this.succeeded !== 0;
  }

  /** Where the encoded result lies in `bytes`: [resultOffset, resultOffset + resultLength); length 0 = undefined. */
  get resultOffset(): number {
    return this.resultAt;
  }

  get resultLength(): number {
    return this.resultBytes;
  }

  /** The encoded result as a view over `bytes` (no copy). */
  resultPayload(): Uint8Array {
    return this.bytes.subarray(this.resultAt, this.resultAt + this.resultBytes);
  }

  /** The result, deserialized into fresh objects (undefined when none was sent). */
  result(): unknown {
    return this.resultBytes === 0 ? undefined : deserialize(this.resultPayload());
  }

  /** The failure of a response with ok = false (undefined for a success). */
  error(): ErrorInfo | undefined {
    const view = this.view;
    const field = fieldPosition(view, this.table, ServiceResponseSlot.error);
    if (field < 0) return undefined;
    const info = field + view.getUint32(field, true);
    if (info + 4 > view.byteLength || info % 4 !== 0) throw new MalformedRecordError('the ErrorInfo of a ServiceResponse lies outside the buffer');
    const vtable = info - view.getInt32(info, true);
    if (vtable < 0 || vtable + 4 > view.byteLength) throw new MalformedRecordError('the ErrorInfo of a ServiceResponse has an invalid vtable');
    return {
      code: this.errorString(info, ErrorInfoSlot.code),
      name: this.errorString(info, ErrorInfoSlot.name),
      message: this.errorString(info, ErrorInfoSlot.message),
      stack: this.errorString(info, ErrorInfoSlot.stack),
    };
  }

  private errorString(info: number, slot: number): string {
    const text = readVector(this.view, info, slot, 1, this.span);
    return readUtf8(this.bytes, text.at, text.length);
  }
}

let sharedReader: ServiceResponseReader | undefined;

/** Decodes the ServiceResponse at `offset` into fresh objects. */
export function decodeServiceResponse(bytes: Uint8Array, offset = 0): DecodedServiceResponse {
  if (sharedReader?.bytes !== bytes) sharedReader = new ServiceResponseReader(bytes);
  const reader = sharedReader.read(offset);
  if (reader.ok) return { id: reader.id, ok: true, result: reader.result() };
  return {
    id: reader.id,
    ok: false,
    error: reader.error() ?? { code: '', name: 'Error', message: 'the service failed without an error', stack: '' },
  };
}
