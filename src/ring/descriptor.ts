/**
 * The byte layout of a SharedRing, in one place (as Agrona's RingBufferDescriptor does it).
 *
 * One SharedArrayBuffer: a header, then a data region whose size is a power of two.
 *
 * ```
 *  byte 0        4        8          12       16                              128
 *       +--------+--------+----------+--------+------------------------------+
 *       | magic  |version | capacity | flags  |   (reserved)                 |   identity
 *       +--------+--------+----------+--------+------------------------------+
 *   128 | tail: bytes ever claimed by producers (int32, wraps mod 2^32)      |   one 128-byte line
 *   256 | head: bytes ever consumed (int32, wraps mod 2^32) | frames read     |   each, so producers
 *   384 | head cache: producers' last look at head                           |   and the consumer
 *   512 | correlation counter: request ids handed out                        |   never share a
 *   640 | heartbeat: float64 ms timestamp of the consumer's last beat        |   cache line
 *   768 | consumer waiters | data signal | data wake pending                  |
 *   896 | producer waiters | space signal | space wake pending               |
 *  1024 | closed flag (read by producers on every claim; written once)       |
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
 * `length` counts header and payload. It is 0 while the space is free, negative while a producer
 * holds a `tryClaim`, and set positive last (Atomics.store), which publishes the frame: a reader
 * never sees half a frame. A run of frames written together (tryWriteMany, tryEncodeMany) gets
 * the lengths of all but its first frame by plain stores, then the first frame's by one
 * Atomics.store: the reader goes frame by frame and cannot pass a length that reads 0, so it
 * reaches none of the run before that store, which orders every write of the run before it.
 *
 * Before moving head, the consumer zeroes the length word of every 8-byte slot it has read past,
 * so a stale length can never be mistaken for a new one. A frame that would cross the end is
 * preceded by a padding frame (type PADDING_TYPE) that fills the rest of the region; a run that
 * fails halfway is closed by a padding frame over its unwritten rest.
 */
export const RING_MAGIC = 0x52464c57; // "RFLW"
// 2: the frames-read counter moved from the closed flag's line to the head's (the consumer's own),
// so the consumer's releases no longer evict the line producers read on every claim.
export const RING_VERSION = 2;

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
