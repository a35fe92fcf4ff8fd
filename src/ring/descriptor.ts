/**
 * The byte layout of a SharedRing, in one place (as Agrona's RingBufferDescriptor does it).
 *
 * One SharedArrayBuffer: a header, then a data region whose size is a power of two.
 *
 * ```
 *  byte 0        4        8          12       16                              128
 *       +--------+--------+----------+--------+------------------------------+
 *       | magic  |version | capacity | flags  | unblock after ms | (reserved) |   identity
 *       +--------+--------+----------+--------+------------------------------+
 *   128 | tail: bytes ever claimed by producers (int32, wraps mod 2^32)      |   one 128-byte line
 *   256 | head: bytes ever consumed (int32, wraps mod 2^32) | frames read     |   each, so producers
 *   384 | head cache: producers' last look at head                           |   and the consumer
 *   512 | correlation counter: request ids handed out                        |   never share a
 *   640 | heartbeat: float64 ms timestamp of the consumer's last beat        |   cache line
 *   768 | consumer waiters | data signal | data wake pending                  |
 *   896 | producer waiters | space signal | space wake pending               |
 *  1024 | closed flag (read by producers on every claim; written once)       |
 *       | unblocked: claims the consumer revoked (written only on a revoke)  |
 *  1152 +--------------------------------------------------------------------+
 *       | data region: `capacity` bytes of frames                            |
 *       +--------------------------------------------------------------------+
 * ```
 *
 * A frame, 8-byte aligned, never straddles the end of the data region:
 *
 * ```
 *   0              4              8
 *   +--------------+--------------+------------------------------+---------+
 *   | length int32 | type  int32  | payload (length - 8 bytes)   | pad to 8|
 *   +--------------+--------------+------------------------------+---------+
 * ```
 *
 * `length` counts header and payload. It is 0 while the space is free. A producer that has moved
 * the tail stores a negative claim marker in the length word first, before any other byte of
 * its claim: `-frameLength` for one frame, `-runBytes` for a run of frames written together
 * (every frame of the run, aligned). It publishes by a CAS from its marker to the positive
 * length, last: a reader never sees half a frame. A run (tryWriteMany, tryEncodeMany) gets the
 * lengths of all but its first frame by plain stores, then the first frame's by that CAS: the
 * reader goes frame by frame and cannot pass a length that reads negative, so it reaches none of
 * the run before the CAS, which orders every write of the run before it.
 *
 * Before moving head, the consumer zeroes the length word of every 8-byte slot it has read past,
 * so a stale length can never be mistaken for a new one. A frame that would cross the end is
 * preceded by a padding frame (type PADDING_TYPE) that fills the rest of the region; a run that
 * fails halfway is closed by a padding frame over its unwritten rest. A positive length below
 * FRAME_HEADER_LENGTH, or one that runs past the end of the region, is corrupt
 * (CorruptFrameError, code ERR_CORRUPT_FRAME, naming the position).
 *
 * Revoking a claim (a producer that died between claim and publish; the model is Agrona's
 * ManyToOneRingBuffer.unblock). When the slot at head reads <= 0 while tail != head, a claim
 * there is unpublished. Once it has stayed so for `unblock after ms` (timed by the consumer from
 * when it first saw it), or on an explicit `unblock()`, the consumer revokes it:
 *
 * - marker `m < 0`: the claim spans alignFrame(-m) bytes;
 * - 0 (the producer died between moving the tail and storing its marker, so it wrote nothing):
 *   the claim spans up to the first slot after head whose length word is not 0 (the next
 *   claim's marker or length), or to tail, or to the end of the region, whichever comes first;
 *   the slots in between are read again to confirm they still read 0;
 *
 * then CASes the length word from what it read to that span (a padding frame to the reader),
 * counts it in `unblocked`, and releases the span as it releases consumed frames. A producer
 * that was merely slow finds its publishing CAS fails (its marker is gone): it throws
 * ClaimRevokedError (ERR_CLAIM_REVOKED) and the frame is not delivered; an abort just gives up.
 * The bound must exceed any pause a live producer takes between claim and publish (a copy for
 * tryWrite; the caller's code for tryClaim + commit and encode callbacks): its bytes written
 * after the revoke land in space the ring may already have handed to another claim (and its CAS
 * would succeed on a slot that another claim of the same length has marked since).
 */
export const RING_MAGIC = 0x52464c57; // "RFLW"
// 2: the frames-read counter moved from the closed flag's line to the head's (the consumer's own),
// so the consumer's releases no longer evict the line producers read on every claim.
// 3: claim markers before every write (not only tryClaim), publication by CAS, revocable claims
// (unblock after ms, unblocked count).
export const RING_VERSION = 3;

export const CACHE_LINE_PAIR = 128;

// Byte offsets of header fields.
export const MAGIC_OFFSET = 0;
export const VERSION_OFFSET = 4;
export const CAPACITY_OFFSET = 8;
export const FLAGS_OFFSET = 12;
export const TAIL_OFFSET = 1 * CACHE_LINE_PAIR;
export const HEAD_OFFSET = 2 * CACHE_LINE_PAIR;
export const HEAD_CACHE_OFFSET = 3 * CACHE_LINE_PAIR;
export const CORRELATION_OFFSET = 4 * CACHE_LINE_PAIR;
export const HEARTBEAT_OFFSET = 5 * CACHE_LINE_PAIR;
export const CONSUMER_WAITERS_OFFSET = 6 * CACHE_LINE_PAIR;
export const DATA_SIGNAL_OFFSET = 6 * CACHE_LINE_PAIR + 4;
/** Set by the first producer that wakes the parked consumer; cleared by the consumer when it runs. */
export const DATA_WAKE_PENDING_OFFSET = 6 * CACHE_LINE_PAIR + 8;
export const PRODUCER_WAITERS_OFFSET = 7 * CACHE_LINE_PAIR;
export const SPACE_SIGNAL_OFFSET = 7 * CACHE_LINE_PAIR + 4;
export const SPACE_WAKE_PENDING_OFFSET = 7 * CACHE_LINE_PAIR + 8;
export const CLOSED_OFFSET = 8 * CACHE_LINE_PAIR;
export const FRAMES_READ_OFFSET = HEAD_OFFSET + 4;
/** int32: how long an unpublished claim may hold the head before the consumer revokes it; 0: never by itself. */
export const UNBLOCK_AFTER_OFFSET = 16;
/** int32: claims the consumer revoked; on the closed flag's line, which changes only on a revoke. */
export const UNBLOCKED_OFFSET = CLOSED_OFFSET + 4;
/** Default of SharedRingOptions.unblockAfterMs. */
export const DEFAULT_UNBLOCK_AFTER_MS = 500;
export const HEADER_LENGTH = 9 * CACHE_LINE_PAIR;

export const FLAG_MULTI_PRODUCER = 1;

// Frames.
export const FRAME_ALIGNMENT = 8;
export const FRAME_HEADER_LENGTH = 8;
export const FRAME_TYPE_OFFSET = 4;
/** Type of the filler frame before a wrap; user frame types are 0..2^31-1. */
export const PADDING_TYPE = -1;
export const MAX_FRAME_TYPE = 0x7fffffff;

export const MIN_CAPACITY = 1024;
export const MAX_CAPACITY = 1 << 30;

export function alignFrame(length: number): number {
  return (length + FRAME_ALIGNMENT - 1) & ~(FRAME_ALIGNMENT - 1);
}

/**
 * The largest frame (header included) a ring of `capacity` accepts. Half the region: an empty
 * ring then always has room for it, on one side of the wrap point or the other.
 */
export function maxFrameLength(capacity: number): number {
  return capacity >>> 1;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
