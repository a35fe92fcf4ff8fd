import { InvalidArgumentError } from '../errors.js';
import { InvalidValueError, MalformedRecordError } from './errors.js';
import { fieldPosition, readVector, rootTable, uint32Field, uint8Field } from './flat-table.js';
import { Envelope, PayloadCodec } from './generated/ringflow/wire.js';
import { hashKey, keyString, type RecordKey } from './hash-key.js';
import { checkInt64, loadInt64AsNumber, storeInt64 } from './int64.js';
import { EnvelopeSlot, PAYLOAD_ALIGNMENT, RECORD_ALIGNMENT } from './layout.js';
import { claimRegion, encodeToNewArray, regionOf, zeroBytes } from './memory.js';
import { checkPayloadBytes, deserialize, payloadLength, serialize, stringBytes, writePayload, type PayloadSource } from './payload.js';
import { RecordReader } from './record-reader.js';
import { alignUp, lengthPrefixAt, placeString, placeVector, stringEnd, TableHead } from './table-head.js';
import { readUtf8 } from './utf8.js';

/**
 * How an Envelope's payload is encoded: 'value' (the value codec, src/codec/values: any structured-cloneable value,
 * the default), 'flatbuffers' (the bytes of a user FlatBuffers table) or 'raw' (opaque bytes).
 */
export type PayloadCodecName = 'value' | 'flatbuffers' | 'raw';

/** Names by wire value (PayloadCodec.Value = 0, FlatBuffers = 1, Raw = 2). */
const codecNames: readonly PayloadCodecName[] = ['value', 'flatbuffers', 'raw'];

function codecValue(name: PayloadCodecName): PayloadCodec {
  const value = codecNames.indexOf(name);
  if (value < 0) throw new InvalidArgumentError(`codec must be 'value', 'flatbuffers' or 'raw', got ${String(name)}`);
  return value;
}

export interface EnvelopeHeader {
  /** The record key; stored in canonical string form with its `hashKey`. Absent: no key, hash 0. */
  key?: RecordKey;
  /** Event time in ms. Default 0. */
  ts?: number | bigint;
  /** How the payload is encoded. Default 'value'. */
  codec?: PayloadCodecName;
}

/** What writing an Envelope needs; one head with a key field and one without. */
interface EnvelopeHead {
  readonly head: TableHead;
  readonly keyFieldAt: number;
  readonly keyHashAt: number;
  readonly tsAt: number;
  readonly codecAt: number;
  readonly payloadFieldAt: number;
}

let keyedHead: EnvelopeHead | undefined;
let unkeyedHead: EnvelopeHead | undefined;

function envelopeHead(keyed: boolean): EnvelopeHead {
  return keyed ? (keyedHead ??= buildEnvelopeHead(true)) : (unkeyedHead ??= buildEnvelopeHead(false));
}

function buildEnvelopeHead(keyed: boolean): EnvelopeHead {
  const head = new TableHead('Envelope', (builder) => {
    const payload = Envelope.createPayloadVector(builder, []);
    const key = keyed ? builder.createString('') : 0;
    Envelope.startEnvelope(builder);
    if (keyed) Envelope.addKey(builder, key);
    Envelope.addKeyHash(builder, 0);
    Envelope.addTs(builder, 0n);
    Envelope.addCodec(builder, PayloadCodec.Value);
    Envelope.addPayload(builder, payload);
    return Envelope.endEnvelope(builder);
  });
  return {
    head,
    keyFieldAt: keyed ? head.fieldAt(EnvelopeSlot.key) : -1,
    keyHashAt: head.fieldAt(EnvelopeSlot.keyHash),
    tsAt: head.fieldAt(EnvelopeSlot.ts),
    codecAt: head.fieldAt(EnvelopeSlot.codec),
    payloadFieldAt: head.fieldAt(EnvelopeSlot.payload),
  };
}

/** After the head: the key string (when keyed), then the payload, its bytes 8-aligned. */
function payloadLengthAt(head: EnvelopeHead, keyBytes: number): number {
  const cursor = head.keyFieldAt < 0 ? head.head.size : stringEnd(head.head.size, keyBytes);
  return lengthPrefixAt(cursor, PAYLOAD_ALIGNMENT);
}

/** Bytes an Envelope with this key and a payload of `payloadBytes` bytes takes (a multiple of 8). */
export function envelopeSize(payloadBytes: number, key?: RecordKey): number {
  const head = envelopeHead(key !== undefined);
  const keyBytes = key === undefined ? 0 : stringBytes(keyString(key), 'a key');
  return alignUp(payloadLengthAt(head, keyBytes) + 4 + checkPayloadBytes(payloadBytes, 'a payload'), RECORD_ALIGNMENT);
}

/**
 * Writes an Envelope (a complete FlatBuffer whose root offset is at `offset`) directly into
 * `bytes`. The payload is already encoded (`serialize` it, or pass raw bytes, or a PayloadWriter);
 * `encodeEnvelope` does both steps for a value.
 *
 * @param offset where the record starts; `bytes.byteOffset + offset` must be a multiple of 8
 * @returns the bytes written, `envelopeSize(payload length, header.key)`
 */
export function writeEnvelope(bytes: Uint8Array, offset: number, header: EnvelopeHeader, payload: PayloadSource): number {
  const { key, ts = 0, codec = 'value' } = header;
  const wireCodec = codecValue(codec);
  checkInt64(ts, 'ts');
  // A string key goes as is: writeUtf8 and hashKey treat a lone surrogate as keyString would.
  const keyText = key === undefined || typeof key === 'string' ? key : keyString(key);
  const keyBytes = keyText === undefined ? 0 : stringBytes(keyText, 'a key');
  const payloadBytes = payloadLength(payload);
  const head = envelopeHead(keyText !== undefined);
  const payloadAt = payloadLengthAt(head, keyBytes);
  const end = payloadAt + 4 + payloadBytes;
  const size = alignUp(end, RECORD_ALIGNMENT);
  const start = claimRegion(bytes, offset, size);
  const region = regionOf(bytes);
  head.head.stamp(region, start);
  region.u32[(start + head.keyHashAt) >>> 2] = keyText === undefined ? 0 : hashKey(keyText);
  storeInt64(region, start + head.tsAt, ts);
  region.u8[start + head.codecAt] = wireCodec;
  let cursor = head.head.size;
  if (keyText !== undefined) cursor = placeString(region, start, head.keyFieldAt, cursor, keyText, keyBytes);
  const dataAt = placeVector(region, start, head.payloadFieldAt, cursor, payloadAt, payloadBytes);
  writePayload(region.u8, start + dataAt, payload);
  zeroBytes(region, start + end, start + size);
  return size;
}

/**
 * Encodes `value` into a new Envelope: the value codec's bytes for codec 'value' (throws
 * ERR_NOT_SERIALIZABLE for what it cannot clone), the bytes themselves for 'flatbuffers' and 'raw'.
 */
export function encodeEnvelope(value: unknown, header: EnvelopeHeader = {}): Uint8Array {
  const codec = header.codec ?? 'value';
  let payload: Uint8Array;
  if (codec === 'value') {
    payload = serialize(value, 'the envelope value');
  } else if (value instanceof Uint8Array) {
    payload = value;
  } else {
    throw new InvalidValueError(`an envelope with codec '${codec}' carries a Uint8Array, got ${typeof value}`);
  }
  return encodeToNewArray(envelopeSize(payload.length, header.key), (target) => writeEnvelope(target, 0, header, payload));
}

/**
 * Reads Envelopes in place; one reader serves a whole region. Routing needs only `keyHash`, which
 * is read without touching the key or the payload.
 */
export class EnvelopeReader extends RecordReader {
  private keyAt = -1;
  private keyBytes = 0;
  private hash = 0;
  private tsAt = -1;
  private codecValue: PayloadCodec = PayloadCodec.Value;
  private payloadAt = 0;
  private payloadBytes = 0;

  /** Points the reader at the Envelope whose root offset is at `offset` of `bytes`. */
  read(offset: number): this {
    const view = this.view;
    const table = rootTable(view, offset, 'Envelope');
    const codec = uint8Field(view, table, EnvelopeSlot.codec);
    if (codecNames[codec] === undefined) throw new MalformedRecordError(`Envelope at ${offset} has unknown codec ${codec}`);
    const key = readVector(view, table, EnvelopeSlot.key, 1, this.span);
    this.keyAt = key.at === 0 ? -1 : key.at; // at 0 (the root offset) means absent; "" has a position
    this.keyBytes = key.length;
    const payload = readVector(view, table, EnvelopeSlot.payload, 1, this.span);
    this.payloadAt = payload.at;
    this.payloadBytes = payload.length;
    this.hash = uint32Field(view, table, EnvelopeSlot.keyHash);
    this.tsAt = fieldPosition(view, table, EnvelopeSlot.ts);
    this.codecValue = codec;
    return this;
  }

  /** The key in canonical string form, or undefined for an Envelope without one. */
  get key(): string | undefined {
    return this.keyAt < 0 ? undefined : readUtf8(this.bytes, this.keyAt, this.keyBytes);
  }

  get keyHash(): number {
    return this.hash;
  }

  /** Event time in ms (exact up to 2^53; `tsBigInt` is always exact). */
  get ts(): number {
    return this.tsAt < 0 ? 0 : loadInt64AsNumber(this.view, this.tsAt);
  }

  get tsBigInt(): bigint {
    return this.tsAt < 0 ? 0n : this.view.getBigInt64(this.tsAt, true);
  }

  get codec(): PayloadCodecName {
    return codecNames[this.codecValue]!;
  }

  /** Where the payload lies in `bytes`: [payloadOffset, payloadOffset + payloadLength). */
  get payloadOffset(): number {
    return this.payloadAt;
  }

  get payloadLength(): number {
    return this.payloadBytes;
  }

  /** The payload bytes as a view over `bytes` (no copy). */
  payload(): Uint8Array {
    return this.bytes.subarray(this.payloadAt, this.payloadAt + this.payloadBytes);
  }

  /**
   * The value: decoded for codec 'value' (an empty payload is undefined), else a copy of the
   * payload bytes. Never aliases `bytes`.
   */
  value(): unknown {
    if (this.codecValue !== PayloadCodec.Value) return this.payload().slice();
    return this.payloadBytes === 0 ? undefined : deserialize(this.payload());
  }
}

export interface DecodedEnvelope {
  key: string | undefined;
  keyHash: number;
  ts: number;
  codec: PayloadCodecName;
  value: unknown;
}

let sharedReader: EnvelopeReader | undefined;

/** Decodes the Envelope at `offset` into fresh objects; for routing or the hot path use an EnvelopeReader. */
export function decodeEnvelope(bytes: Uint8Array, offset = 0): DecodedEnvelope {
  if (sharedReader?.bytes !== bytes) sharedReader = new EnvelopeReader(bytes);
  const reader = sharedReader.read(offset);
  return { key: reader.key, keyHash: reader.keyHash, ts: reader.ts, codec: reader.codec, value: reader.value() };
}
