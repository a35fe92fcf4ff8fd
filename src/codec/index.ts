/**
 * ringflow/codec: the FlatBuffers records that travel through SharedRings (schema/records.fbs).
 *
 * Hot paths write records in place (`write*` into a claimed frame, sized by the matching `*Size`)
 * and read them in place (`*Reader`, one per region, pointed at record after record). The
 * `encode*` / `decode*` functions are the allocating conveniences. Every record starts on an
 * 8-byte boundary and is sized in multiples of 8.
 */
export type { VectorArray, VectorDType } from './dtype.js';
export { vectorRecordSize, writeVectorRecord, VectorReader, decodeVectorRecord } from './vector-record.js';
export type { DecodedVectorRecord } from './vector-record.js';
export { recordBatchSize, writeRecordBatch, openRecordBatch, sealRecordBatch, RecordBatchReader, decodeRecordBatch } from './record-batch.js';
export type { RecordBatchInput, DecodedRecordBatch, OpenRecordBatch } from './record-batch.js';
export { ValueBatchBuilder, ValueBatchReader, packedValueBatchSize, writePackedValueBatch } from './value-batch.js';
export { PackedStrings, StringSpansBuilder } from './values/ascii-strings.js';
export { envelopeSize, writeEnvelope, encodeEnvelope, EnvelopeReader, decodeEnvelope } from './envelope.js';
export type { EnvelopeHeader, PayloadCodecName, DecodedEnvelope } from './envelope.js';
export { hashKey, keyString } from './hash-key.js';
export { UINT64_MAX, storeInt64Words } from './int64.js';
export type { RecordKey } from './hash-key.js';
export {
  serviceRequestSize,
  serviceRequestNames,
  writeServiceRequest,
  encodeServiceRequest,
  ServiceRequestReader,
  decodeServiceRequest,
} from './service-request.js';
export type { ServiceRequestHeader, ServiceRequestInit, ServiceRequestNames, DecodedServiceRequest } from './service-request.js';
export {
  serviceResponseSize,
  writeServiceResponse,
  encodeServiceResponse,
  toErrorInfo,
  ServiceResponseReader,
  decodeServiceResponse,
} from './service-response.js';
export type { ErrorInfo, ServiceResponseInit, DecodedServiceResponse } from './service-response.js';
export type { PayloadSource, PayloadWriter } from './payload.js';
export { MAX_PAYLOAD_BYTES } from './payload.js';
export { RECORD_ALIGNMENT, PAYLOAD_ALIGNMENT } from './layout.js';
export { MAX_ELEMENTS } from './vector-values.js';
export {
  DimensionMismatchError,
  ValueOutOfRangeError,
  InvalidValueError,
  BufferTooSmallError,
  MisalignedOffsetError,
  MalformedRecordError,
  UnserializableValueError,
} from './errors.js';
/** The flatc-generated classes (`wire.VectorRecord.getRootAsVectorRecord(bb)`, ...), for reading or building records directly. */
export * as wire from './generated/ringflow/wire.js';
