/**
 * The byte layout of a SharedRing, in one place (as Agrona's RingBufferDescriptor does it).
 *
 * One SharedArrayBuffer: a header, then a data region whose size is a power of two.
 *
 * ```
 *  byte 0        4        8          12       16                              128
 *       +--------+--------+----------+--------+------------------------------+
 *       | magic  |version | capacity | flags  | unblock after ms | reclaim after ms | identity
 *       +--------+--------+----------+--------+------------------------------+
 *   128 | tail: bytes ever claimed by producers (int32, wraps mod 2^32)      |   one 128-byte line
 *   256 | head: bytes released to producers | frames read | read position   |   each, so producers
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
 * Head and read position. The consumer reads at the read position and, as it releases frames,
 * zeroes their slots and moves both; producers measure their room from head. They differ only
 * while a revoked claim is held back (below): head then stays at the oldest one.
 *
 * Revoking a claim (a producer that died between claim and publish; the model is Agrona's
 * ManyToOneRingBuffer.unblock). Every producer stores its claim marker by a CAS from 0, before
 * any other byte of its claim. When the slot at the read position reads <= 0 while tail is ahead,
 * a claim there is unpublished. Once it has stayed so for `unblock after ms` (timed by the
 * consumer from when it first saw it), or on an explicit `unblock()`, the consumer revokes it:
 *
 * - marker `m < 0`: the claim spans alignFrame(-m) bytes; the consumer CASes the marker to
 *   REVOKED_LENGTH;
 * - 0 (the producer died between moving the tail and storing its marker, so it wrote nothing):
 *   the consumer CASes every slot from there to REVOKED_LENGTH, up to the first that is not 0
 *   (the next claim's marker or a published length), or to tail, or to the end of the region.
 *   A producer whose marker CAS then fails (its claim was swept up, unwritten) claims afresh.
 *
 * The consumer reads on past the revoked span at once (counted in `unblocked`), but holds its
 * space back from the producers: a producer that was only slow may still write into it. That
 * producer's publishing CAS fails (its marker is gone); it then CASes REVOKED_LENGTH to
 * ACKED_LENGTH, and that claim's frame is not delivered: commit throws ClaimRevokedError
 * (ERR_CLAIM_REVOKED), tryCommit returns false, and the write paths that hold the payload write
 * it again in a fresh claim (an abort just acknowledges). Once acknowledged, after `reclaim after
 * ms` without an acknowledgement (the producer is presumed dead), or on `releaseRevoked()` (its
 * owner knows it is), the consumer zeroes the span and moves head past it. Only a producer that
 * stays paused inside a claim for longer than both bounds can write into space the ring has handed
 * on.
 * Frames read behind a held-back span are released with it. A consumer that takes over a ring
 * on which head trails the read position holds all of it back for `reclaim after ms`.
 */
export const RING_MAGIC = 0x52464c57; // "RFLW"
// 2: the frames-read counter moved from the closed flag's line to the head's (the consumer's own),
// so the consumer's releases no longer evict the line producers read on every claim.
// 3: claim markers before every write (not only tryClaim), publication by CAS, revocable claims
// (unblock after ms, unblocked count).
// 4: a read position apart from head, markers stored by CAS, revoked claims held back until
// acknowledged or reclaim after ms.
export const RING_VERSION = 4;

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
/** int32: where the consumer reads next; ahead of head while a revoked claim is held back. */
export const READ_OFFSET = HEAD_OFFSET + 8;
/** int32: how long an unpublished claim may hold the head before the consumer revokes it; 0: never by itself. */
export const UNBLOCK_AFTER_OFFSET = 16;
/** int32: claims the consumer revoked; on the closed flag's line, which changes only on a revoke. */
export const UNBLOCKED_OFFSET = CLOSED_OFFSET + 4;
/** Default of SharedRingOptions.unblockAfterMs. */
export const DEFAULT_UNBLOCK_AFTER_MS = 500;
/** int32: how long a revoked claim's space is held back without its producer's acknowledgement; 0: until releaseRevoked(). */
export const RECLAIM_AFTER_OFFSET = 20;
/** Default of SharedRingOptions.reclaimAfterMs. */
export const DEFAULT_RECLAIM_AFTER_MS = 5000;
/**
 * Length word of a revoked slot. Negative, so a reader that comes to it (a ring filled up to held
 * space) sees nothing published; above every claim marker (those are -8 or less).
 */
export const REVOKED_LENGTH = -1;
/** Length word of a revoked claim whose producer has acknowledged the revoke. */
export const ACKED_LENGTH = -2;
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
