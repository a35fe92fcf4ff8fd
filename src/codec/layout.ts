/**
 * Layout descriptor of the records src/codec writes in place: VectorRecord, RecordBatch, Envelope,
 * ServiceRequest and (successful) ServiceResponse.
 *
 * They are ordinary FlatBuffers: any FlatBuffers reader (the generated classes included) reads
 * them. Each kind has a head (root offset, vtable and table) made once by the flatbuffers Builder
 * with every field present (table-head.ts); a writer stamps that head, stores the scalars at the
 * positions read back from it, and appends the vectors and strings after the table at positions
 * computed from their lengths (`lengthPrefixAt`). So the vtable and table layout is the Builder's
 * and nothing below is assumed byte for byte. For orientation, a VectorRecord with dim 3 and dtype
 * Float32 (80 bytes):
 *
 * ```
 *  byte  0   u32  root offset = 24 ──────────────────┐
 *        4   pad (6 bytes)                           │
 *       10   vtable  u16 size 14, u16 table size 36, │
 *                    u16 field offsets: uid 24, ts 16, dtype 15, dim 8, data 4
 *       24   table   i32 soffset to vtable = 14 ◄────┘
 *       28           u32 offset to the data vector (28 + 32 → 60)
 *       32           u32 dim = 3
 *       39           u8  dtype = Float32
 *       40           i64 ts          (8-aligned)
 *       48           u64 uid         (8-aligned)
 *       56           pad (the Builder's; inside the table's 36 bytes)
 *       60   data    u32 length = 3
 *       64           f32 × 3         (Float32 data 4-aligned, Float64 data 8-aligned)
 *       76   pad to 80 (zeroed)
 * ```
 *
 * Strings (keys, names) follow as `u32 length, UTF-8 bytes, NUL`, and byte payloads as `u32 length,
 * bytes` with the bytes on an 8-byte boundary. Padding between and after them is zeroed, so a
 * record's bytes depend only on its content, never on what the ring held before.
 *
 * Rules the writers rely on and check: a record starts on an 8-byte boundary of the underlying
 * buffer (so alignment relative to the record start carries over to the memory), and its size is a
 * multiple of 8 (so the next record in a ring starts aligned too).
 */

/** Records start on, and are sized in multiples of, this many bytes. */
export const RECORD_ALIGNMENT = 8;

/**
 * Byte payloads (Envelope.payload, ServiceRequest.args, ServiceResponse.result) start on this
 * boundary, so a nested FlatBuffer or a Float64Array in one can be read in place.
 */
export const PAYLOAD_ALIGNMENT = 8;

/** Byte offset within a vtable of the entry for the field with schema `(id: n)`. */
const slot = (id: number): number => 4 + 2 * id;

/** vtable slots of VectorRecord; the ids are pinned in schema/records.fbs. */
export const VectorRecordSlot = {
  uid: slot(0),
  ts: slot(1),
  dtype: slot(2),
  dim: slot(3),
  data: slot(4),
  dataF64: slot(5),
} as const;

/** vtable slots of RecordBatch; the ids are pinned in schema/records.fbs. */
export const RecordBatchSlot = {
  count: slot(0),
  dim: slot(1),
  dtype: slot(2),
  uids: slot(3),
  ts: slot(4),
  data: slot(5),
  dataF64: slot(6),
} as const;

/** vtable slots of Envelope; the ids are pinned in schema/records.fbs. */
export const EnvelopeSlot = {
  key: slot(0),
  keyHash: slot(1),
  ts: slot(2),
  codec: slot(3),
  payload: slot(4),
} as const;

/** vtable slots of ValueBatch; the ids are pinned in schema/records.fbs. */
export const ValueBatchSlot = {
  count: slot(0),
  ts: slot(1),
  keyHashes: slot(2),
  origins: slot(3),
  values: slot(4),
} as const;

/** vtable slots of ServiceRequest; the ids are pinned in schema/records.fbs. */
export const ServiceRequestSlot = {
  id: slot(0),
  service: slot(1),
  method: slot(2),
  args: slot(3),
  deadline: slot(4),
  replyRing: slot(5),
} as const;

/** vtable slots of ServiceResponse; the ids are pinned in schema/records.fbs. */
export const ServiceResponseSlot = {
  id: slot(0),
  ok: slot(1),
  result: slot(2),
  error: slot(3),
} as const;

/** vtable slots of ErrorInfo; the ids are pinned in schema/records.fbs. */
export const ErrorInfoSlot = {
  code: slot(0),
  name: slot(1),
  message: slot(2),
  stack: slot(3),
} as const;
