import { isMainThread, now } from '../platform/index.js';
import { BlockingOnMainThreadError, InvalidArgumentError, TimeoutError, checkOptionKeys } from '../errors.js';
import * as D from './descriptor.js';
import {
  ClaimRevokedError,
  CorruptFrameError,
  FrameTooLargeError,
  InvalidCapacityError,
  InvalidPayloadError,
  InvalidRingError,
  RingClosedError,
  RingRangeError,
} from './errors.js';
import { deadlineAfter, defaultWaitStrategy, wake, wakeAll, type ParkingSpot, type WaitStrategy } from '../sync/index.js';

/** Zeros copied over consumed space in runs of this many bytes (see clearFrameStarts). */
const ZERO_RUN = 16384;
const ZEROS = new Uint8Array(ZERO_RUN);

export interface SharedRingOptions {
  /** Bytes in the data region: a power of two from 1 KiB to 1 GiB. */
  capacity: number;
  /** Several threads may write at once (claims by CAS). Default true; false saves the CAS. */
  multiProducer?: boolean;
  waitStrategy?: WaitStrategy;
  /**
   * How long (ms) an unpublished claim may hold up the consumer before the consumer revokes it
   * (its producer presumably died between claim and commit) and reads on; counted in
   * `stats().unblocked`. Default 500; 0 turns the automatic revoke off (`unblock()` still works).
   * A producer must publish each claim well within this bound. See descriptor.ts.
   */
  unblockAfterMs?: number;
  /**
   * How long (ms) a revoked claim's space is held back from the producers when its producer never
   * acknowledges the revoke (it is presumed dead after this); a producer that was only slow
   * acknowledges when it tries to publish, and the space comes back then. Default 5000; 0 holds
   * it until `releaseRevoked()`. See descriptor.ts.
   */
  reclaimAfterMs?: number;
}

const CREATE_OPTION_KEYS = ['capacity', 'multiProducer', 'waitStrategy', 'unblockAfterMs', 'reclaimAfterMs'] as const;
const ATTACH_OPTION_KEYS = ['waitStrategy'] as const;

export interface EncodeManyOptions {
  /** Give up (TimeoutError) when a wait for room lasts longer than this. Default: wait forever. */
  timeoutMs?: number;
  /** Frames per published run. Default 32, fewer when frames are large (at most ~4 KiB a run). */
  runFrames?: number;
}

export interface AttachOptions {
  waitStrategy?: WaitStrategy;
}

/**
 * Called once per frame by `drain`, zero-copy: the payload is `data[offset, offset + length)`,
 * valid only until the handler returns (then the space is recycled). Returning `false` (exactly) ends the
 * drain after this frame (as Agrona's controlled handlers can), e.g. once enough work is done.
 */
export type FrameHandler = (type: number, data: Uint8Array, offset: number, length: number) => unknown;

/**
 * Called once per frame by `tryEncodeMany` / `encodeManyAsync` to write a payload in place, at
 * `data[offset, offset + payloadLength)`. `index` counts the frames of the call from 0. Called
 * again for an index whose run the consumer revoked while it was encoded: the same bytes each time.
 */
export type FrameEncoder = (data: Uint8Array, offset: number, index: number) => void;

/** A frame copied out of the ring. */
export interface Frame {
  type: number;
  payload: Uint8Array;
}

export interface RingStats {
  capacity: number;
  maxPayloadLength: number;
  multiProducer: boolean;
  usedBytes: number;
  freeBytes: number;
  framesRead: number;
  consumerParked: number;
  producersParked: number;
  closed: boolean;
  lastHeartbeat: number;
  /** Claims the consumer revoked (unpublished past unblockAfterMs, or by unblock()). */
  unblocked: number;
  /** Bytes read but held back from the producers behind a revoked claim (see reclaimAfterMs); in usedBytes. */
  heldBytes: number;
}

/** A revoked claim whose space the consumer holds back (descriptor.ts). */
interface HeldClaim {
  /** Ring position (wrapping int32) where it starts, and its bytes. */
  start: number;
  span: number;
  /** Index in `words` of the length word its producer acknowledges at; -1: nobody will. */
  ackIndex: number;
  /** now() when it was revoked. */
  since: number;
}

const I = (byteOffset: number) => byteOffset >> 2;
const TAIL = I(D.TAIL_OFFSET);
const HEAD = I(D.HEAD_OFFSET);
const READ = I(D.READ_OFFSET);
const HEAD_CACHE = I(D.HEAD_CACHE_OFFSET);
const CORRELATION = I(D.CORRELATION_OFFSET);
const CLOSED = I(D.CLOSED_OFFSET);
const FRAMES_READ = I(D.FRAMES_READ_OFFSET);
const UNBLOCKED = I(D.UNBLOCKED_OFFSET);
const HEARTBEAT = D.HEARTBEAT_OFFSET >> 3;

/**
 * A bounded multi-producer, single-consumer queue of frames in one SharedArrayBuffer. Every thread
 * that holds `ring.buffer` can `attach` to it. Layout and frame format: see descriptor.ts.
 *
 * Producers: `tryWrite` / `write` / `writeAsync`, or `tryClaim` + `commit` to encode straight into
 * the ring. The consumer (one thread at a time): `drain` (zero-copy), `tryRead` / `read` /
 * `readAsync` (copies). Blocking forms are for worker threads; the main thread uses the async ones.
 */
export class SharedRing {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly multiProducer: boolean;
  /** Largest payload one frame may carry. */
  readonly maxPayloadLength: number;
  /** The data region; offsets given to handlers and returned by `tryClaim` index into it. */
  readonly data: Uint8Array;

  private readonly words: Int32Array;
  private readonly floats: Float64Array;
  private readonly mask: number;
  private readonly maxFrame: number;
  private readonly waitStrategy: WaitStrategy;
  private readonly dataSpot: ParkingSpot;
  private readonly spaceSpot: ParkingSpot;
  private readonly unblockAfterMs: number;
  private readonly reclaimAfterMs: number;
  /** Revoked claims held back, oldest first; head stays at the first one's start. Consumer only. */
  private readonly held: HeldClaim[] = [];
  /** The consumer's watch on an unpublished claim at the head: where, and since when (now()). */
  private stallWatched = false;
  private stallHead = 0;
  private stallSince = 0;

  static create(options: SharedRingOptions): SharedRing {
    checkOptionKeys('SharedRing.create', options, CREATE_OPTION_KEYS);
    const capacity = validateCapacity(options?.capacity);
    const unblockAfterMs = options.unblockAfterMs ?? D.DEFAULT_UNBLOCK_AFTER_MS;
    const reclaimAfterMs = options.reclaimAfterMs ?? D.DEFAULT_RECLAIM_AFTER_MS;
    for (const [name, ms] of [['unblockAfterMs', unblockAfterMs], ['reclaimAfterMs', reclaimAfterMs]] as const) {
      if (!(Number.isInteger(ms) && ms >= 0 && ms <= 0x7fffffff)) {
        throw new InvalidArgumentError(`${name} must be a non-negative integer number of milliseconds, got ${String(ms)}`);
      }
    }
    const buffer = new SharedArrayBuffer(D.HEADER_LENGTH + capacity);
    const words = new Int32Array(buffer);
    words[I(D.MAGIC_OFFSET)] = D.RING_MAGIC;
    words[I(D.VERSION_OFFSET)] = D.RING_VERSION;
    words[I(D.CAPACITY_OFFSET)] = capacity;
    words[I(D.FLAGS_OFFSET)] = options.multiProducer === false ? 0 : D.FLAG_MULTI_PRODUCER;
    words[I(D.UNBLOCK_AFTER_OFFSET)] = unblockAfterMs;
    words[I(D.RECLAIM_AFTER_OFFSET)] = reclaimAfterMs;
    return new SharedRing(buffer, options.waitStrategy ?? defaultWaitStrategy);
  }

  static attach(buffer: SharedArrayBuffer, options: AttachOptions = {}): SharedRing {
    checkOptionKeys('SharedRing.attach', options, ATTACH_OPTION_KEYS);
    if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidRingError('SharedRing.attach needs a SharedArrayBuffer');
    if (buffer.byteLength < D.HEADER_LENGTH + D.MIN_CAPACITY) {
      throw new InvalidRingError(`a buffer of ${buffer.byteLength} bytes is too small to hold a ring`);
    }
    const words = new Int32Array(buffer, 0, D.HEADER_LENGTH >> 2);
    if (words[I(D.MAGIC_OFFSET)] !== D.RING_MAGIC) throw new InvalidRingError('the buffer does not hold a ring (bad magic)');
    const version = words[I(D.VERSION_OFFSET)];
    if (version !== D.RING_VERSION) {
      throw new InvalidRingError(`the ring has layout version ${version}; this build reads version ${D.RING_VERSION}`);
    }
    const capacity = words[I(D.CAPACITY_OFFSET)]!;
    if (!D.isPowerOfTwo(capacity) || buffer.byteLength !== D.HEADER_LENGTH + capacity) {
      throw new InvalidRingError(`the ring header says capacity ${capacity}, which does not match a ${buffer.byteLength}-byte buffer`);
    }
    return new SharedRing(buffer, options.waitStrategy ?? defaultWaitStrategy);
  }

  private constructor(buffer: SharedArrayBuffer, waitStrategy: WaitStrategy) {
    this.buffer = buffer;
    this.words = new Int32Array(buffer);
    this.floats = new Float64Array(buffer, 0, D.HEADER_LENGTH >> 3);
    this.capacity = this.words[I(D.CAPACITY_OFFSET)]!;
    this.multiProducer = (this.words[I(D.FLAGS_OFFSET)]! & D.FLAG_MULTI_PRODUCER) !== 0;
    this.mask = this.capacity - 1;
    this.maxFrame = D.maxFrameLength(this.capacity);
    this.maxPayloadLength = this.maxFrame - D.FRAME_HEADER_LENGTH;
    this.data = new Uint8Array(buffer, D.HEADER_LENGTH, this.capacity);
    this.waitStrategy = waitStrategy;
    this.unblockAfterMs = this.words[I(D.UNBLOCK_AFTER_OFFSET)]!;
    this.reclaimAfterMs = this.words[I(D.RECLAIM_AFTER_OFFSET)]!;
    this.dataSpot = {
      words: this.words,
      waitersIndex: I(D.CONSUMER_WAITERS_OFFSET),
      signalIndex: I(D.DATA_SIGNAL_OFFSET),
      pendingIndex: I(D.DATA_WAKE_PENDING_OFFSET),
      beforePark: () => this.beat(),
    };
    this.spaceSpot = {
      words: this.words,
      waitersIndex: I(D.PRODUCER_WAITERS_OFFSET),
      signalIndex: I(D.SPACE_SIGNAL_OFFSET),
      pendingIndex: I(D.SPACE_WAKE_PENDING_OFFSET),
    };
  }

  // ---------------------------------------------------------------- producers

  /**
   * Reserves a frame of `payloadLength` bytes. Returns the payload's offset in `data`, or -1 when
   * the ring has no room now. Write the payload there, then `commit(offset)` (or `abort(offset)`);
   * until then the consumer waits at this frame, so keep the claim short.
   */
  tryClaim(type: number, payloadLength: number): number {
    const frameLength = D.FRAME_HEADER_LENGTH + payloadLength;
    const aligned = D.alignFrame(frameLength);
    if (!(aligned <= this.maxFrame && payloadLength >= 0)) this.rejectFrame(type, payloadLength);
    if ((type >>> 0) > D.MAX_FRAME_TYPE || type !== Math.trunc(type)) this.rejectFrame(type, payloadLength);
    const index = this.reserveMarked(aligned, -frameLength);
    if (index < 0) return -1;
    this.words[((D.HEADER_LENGTH + index) >> 2) + 1] = type;
    return index + D.FRAME_HEADER_LENGTH;
  }

  /**
   * `reserve`, then the claim marker `marker` stored by a CAS from 0: when that fails, the
   * consumer swept the claim up as a dead one before a byte of it was written, and it claims
   * afresh. Returns the frame's index in `data`, or -1 when there is no room now.
   */
  private reserveMarked(aligned: number, marker: number): number {
    for (;;) {
      const index = this.reserve(aligned);
      if (index < 0) return -1;
      if (Atomics.compareExchange(this.words, (D.HEADER_LENGTH + index) >> 2, 0, marker) === 0) return index;
    }
  }

  /**
   * The producer of a claim the consumer revoked tells it that it will write no more there, so
   * the consumer may hand the space on.
   */
  private acknowledgeRevoke(base: number): void {
    Atomics.compareExchange(this.words, base, D.REVOKED_LENGTH, D.ACKED_LENGTH);
    wake(this.dataSpot);
  }

  /**
   * Moves the tail past one frame of `aligned` bytes (and a padding frame before it when it would
   * cross the end, published here). Returns the frame's index in `data`, or -1 when there is no
   * room now. The frame's length word still reads 0: the caller publishes it.
   */
  private reserve(aligned: number): number {
    const words = this.words;
    // Plain reads where a stale value is harmless, atomics where ordering matters: every Atomics
    // call costs a dozen ns or more here, the hot path's main cost. The closed flag may be seen a
    // moment late by another thread (close races with write anyway); a stale head cache only
    // under-counts free space, which the atomic read of head then corrects; in single-producer
    // mode only this thread writes the tail.
    if (words[CLOSED] !== 0) throw new RingClosedError();
    const capacity = this.capacity;
    const multi = this.multiProducer;
    let tail: number;
    let padding: number;
    for (;;) {
      tail = multi ? Atomics.load(words, TAIL) : words[TAIL]!;
      const toEnd = capacity - (tail & this.mask);
      padding = aligned > toEnd ? toEnd : 0;
      const required = aligned + padding;
      if (required > capacity - ((tail - words[HEAD_CACHE]!) | 0)) {
        const head = Atomics.load(words, HEAD);
        if (required > capacity - ((tail - head) | 0)) return -1;
        words[HEAD_CACHE] = head;
      }
      const next = (tail + required) | 0;
      if (!multi) {
        // Only this thread writes the tail, and nothing reads it to find frames (the consumer
        // goes by the length words, published by an Atomics.store later): a plain store, which
        // saves a locked instruction per frame on x86. `drained` and `stats` see it through the
        // atomics that order it (a commit or close() by this thread).
        words[TAIL] = next;
        break;
      }
      if (Atomics.compareExchange(words, TAIL, tail, next) === tail) break;
    }
    return this.padTo(tail, padding);
  }

  /**
   * Where a claim made at `tail` starts: there, or at 0 after a padding frame of `padding` bytes
   * over the rest of the ring (published at once: the reader skips it).
   */
  private padTo(tail: number, padding: number): number {
    const index = tail & this.mask;
    if (padding === 0) return index;
    const padBase = (D.HEADER_LENGTH + index) >> 2;
    this.words[padBase + 1] = D.PADDING_TYPE;
    // From 0: if the consumer revoked this slot already, it padded the same span (to the end).
    Atomics.compareExchange(this.words, padBase, 0, padding);
    return 0;
  }

  /**
   * Publishes a claimed frame: from here on the consumer sees it, whole. ClaimRevokedError when
   * the consumer revoked the claim first (see tryCommit).
   */
  commit(payloadOffset: number): void {
    if (!this.tryCommit(payloadOffset)) throw new ClaimRevokedError();
  }

  /**
   * Publishes a claimed frame, as commit does, and returns true; false when the consumer revoked
   * the claim first (it stayed unpublished past unblockAfterMs, or unblock() was called). The
   * consumer skipped that frame unread, so the producer, which still has what it wrote, claims and
   * writes it again: a producer that only stalled loses time, not the frame. `wakeReader` false
   * publishes quietly (see commitQuietly).
   */
  tryCommit(payloadOffset: number, wakeReader = true): boolean {
    const base = (D.HEADER_LENGTH + payloadOffset - D.FRAME_HEADER_LENGTH) >> 2;
    const marker = this.words[base]!;
    // The marker is gone when the consumer revoked the claim (descriptor.ts).
    if (marker > -D.FRAME_HEADER_LENGTH || Atomics.compareExchange(this.words, base, marker, -marker) !== marker) {
      this.acknowledgeRevoke(base);
      return false;
    }
    if (wakeReader) wake(this.dataSpot);
    return true;
  }

  /**
   * Publishes a claimed frame without waking a parked consumer, for a producer that publishes a
   * burst of frames and then wakes it once with `wakeReader`. That producer must wake it before
   * it blocks or goes idle: a consumer parked on frames published quietly sleeps until its park
   * times out. (Each wake of a parked consumer is a syscall, and for a main thread in
   * Atomics.waitAsync also a task of its event loop.)
   */
  commitQuietly(payloadOffset: number): void {
    if (!this.tryCommit(payloadOffset, false)) throw new ClaimRevokedError();
  }

  /** Wakes the consumer if it is parked (free when it is not): see commitQuietly. */
  wakeReader(): void {
    wake(this.dataSpot);
  }

  /**
   * Gives a claimed frame back: the consumer skips it (if the consumer revoked it already, this
   * acknowledges the revoke). Not after a commit of it threw ClaimRevokedError: that commit gave
   * the claim up, and its space may belong to another claim by now.
   */
  abort(payloadOffset: number): void {
    const base = (D.HEADER_LENGTH + payloadOffset - D.FRAME_HEADER_LENGTH) >> 2;
    const marker = this.words[base]!;
    if (marker > -D.FRAME_HEADER_LENGTH) return this.acknowledgeRevoke(base);
    this.words[base + 1] = D.PADDING_TYPE;
    if (Atomics.compareExchange(this.words, base, marker, -marker) !== marker) return this.acknowledgeRevoke(base);
    wake(this.dataSpot);
  }

  /** Copies `payload` into one frame. False when the ring is full now. */
  tryWrite(payload: Uint8Array, type = 0): boolean {
    // Any other value's `length` would be the wrong byte count (a Float32Array's) or no bytes at all.
    if (!(payload instanceof Uint8Array)) throw new InvalidPayloadError(payload);
    // `length`, not `byteLength` (equal for a Uint8Array), here and in the other write paths:
    // V8 reads byteLength an order of magnitude slower (~13-20 ns against ~1.5 ns, measured).
    const frameLength = D.FRAME_HEADER_LENGTH + payload.length;
    const aligned = D.alignFrame(frameLength);
    if (!(aligned <= this.maxFrame)) this.rejectFrame(type, payload.length);
    if ((type >>> 0) > D.MAX_FRAME_TYPE || type !== Math.trunc(type)) this.rejectFrame(type, payload.length);
    // The claim marker before any byte of the claim (a revoke needs its span), the payload, the
    // type, then the publishing CAS. A claim the consumer revoked meanwhile was skipped unread:
    // the payload goes again in a fresh one.
    const words = this.words;
    for (;;) {
      const index = this.reserveMarked(aligned, -frameLength);
      if (index < 0) return false;
      const base = (D.HEADER_LENGTH + index) >> 2;
      this.data.set(payload, index + D.FRAME_HEADER_LENGTH);
      words[base + 1] = type;
      if (Atomics.compareExchange(words, base, -frameLength, frameLength) === -frameLength) break;
      this.acknowledgeRevoke(base);
    }
    wake(this.dataSpot);
    return true;
  }

  /**
   * Writes as many of `payloads` as fit now, in order, one frame each; returns how many. Frames
   * are published in runs (one tail update, one Atomics.store and one wake check per run, not per
   * frame) of up to 32 frames and 4 KiB (or one larger frame), so the consumer can start on a run
   * while the next is copied. Throws (FrameTooLargeError, RangeError, RingClosedError) before
   * writing anything.
   */
  tryWriteMany(payloads: readonly Uint8Array[], type = 0): number {
    const count = payloads.length;
    for (let i = 0; i < count; i++) {
      const payload = payloads[i];
      if (!(payload instanceof Uint8Array)) throw new InvalidPayloadError(payload);
      const length = payload.length;
      if (!(D.alignFrame(D.FRAME_HEADER_LENGTH + length) <= this.maxFrame)) this.rejectFrame(type, length);
    }
    if ((type >>> 0) > D.MAX_FRAME_TYPE || type !== Math.trunc(type)) this.rejectFrame(type, 0);
    if (this.words[CLOSED] !== 0) throw new RingClosedError();
    let written = 0;
    while (written < count) {
      const frames = this.writeRun(payloads, written, type);
      if (frames === 0) break;
      written += frames;
    }
    return written;
  }

  /**
   * Writes up to `maxFrames` frames of `payloadLength` bytes each, as many as there is room for
   * now, encoding each in place: `encode(data, offset, index)` writes frame `index`'s payload at
   * `data[offset, offset + payloadLength)`. The frames are claimed together and published
   * together (one tail update, one Atomics.store, one wake check), yet each stays a frame of its
   * own to the consumer. Returns how many frames were written (0 when not one fits now).
   *
   * Keep `maxFrames` modest (tens of frames): the consumer sees none of them until the last is
   * encoded. `encode` must write the same bytes whenever it is called for the same index: a run the
   * consumer revoked while it was encoded (a stall past unblockAfterMs) is encoded again. If
   * `encode` throws, the frames before the one that threw are published, that one and the rest are
   * skipped by the reader, and the error propagates. Bad sizes or types (RangeError,
   * FrameTooLargeError) and a closed ring (RingClosedError) throw before anything is written.
   */
  tryEncodeMany(type: number, payloadLength: number, maxFrames: number, encode: FrameEncoder): number {
    const aligned = D.alignFrame(D.FRAME_HEADER_LENGTH + payloadLength);
    if (!(aligned <= this.maxFrame && payloadLength >= 0)) this.rejectFrame(type, payloadLength);
    if ((type >>> 0) > D.MAX_FRAME_TYPE || type !== Math.trunc(type)) this.rejectFrame(type, payloadLength);
    checkFrameCount(maxFrames, 'maxFrames');
    if (this.words[CLOSED] !== 0) throw new RingClosedError();
    return this.encodeRun(type, payloadLength, aligned, maxFrames, encode, 0);
  }

  /**
   * Writes exactly `count` frames of `payloadLength` bytes, encoded in place by `encode` (as in
   * `tryEncodeMany`; `index` runs from 0 to count - 1), in published runs of up to `runFrames`
   * frames (default: 32, fewer when frames are large), waiting for room without blocking the
   * thread. TimeoutError when no room came within `timeoutMs` of a wait; RingClosedError when the
   * ring is closed. Either way the frames written before stay written.
   */
  async encodeManyAsync(type: number, payloadLength: number, count: number, encode: FrameEncoder, options: EncodeManyOptions = {}): Promise<void> {
    const batch = this.encodeBatch(type, payloadLength, count, encode, options.runFrames);
    while (!batch.finished()) {
      if (batch.step()) continue;
      if (!(await this.waitStrategy.waitAsync(batch.step, this.spaceSpot, deadlineAfter(options.timeoutMs)))) {
        throw new TimeoutError(`no room in the ring for ${payloadLength} bytes within ${options.timeoutMs} ms`);
      }
    }
  }

  /** `encodeManyAsync`, blocking while it waits for room (worker threads). */
  encodeMany(type: number, payloadLength: number, count: number, encode: FrameEncoder, options: EncodeManyOptions = {}): void {
    assertMayBlock('SharedRing.encodeMany');
    const batch = this.encodeBatch(type, payloadLength, count, encode, options.runFrames);
    while (!batch.finished()) {
      if (batch.step()) continue;
      if (!this.waitStrategy.wait(batch.step, this.spaceSpot, deadlineAfter(options.timeoutMs))) {
        throw new TimeoutError(`no room in the ring for ${payloadLength} bytes within ${options.timeoutMs} ms`);
      }
    }
  }

  /** Blocking write (worker threads): waits for room, up to `timeoutMs`, then TimeoutError. */
  write(payload: Uint8Array, type = 0, timeoutMs?: number): void {
    assertMayBlock('SharedRing.write');
    if (this.tryWrite(payload, type)) return;
    const done = this.waitStrategy.wait(() => this.tryWrite(payload, type), this.spaceSpot, deadlineAfter(timeoutMs));
    if (!done) throw new TimeoutError(`no room in the ring for ${payload.byteLength} bytes within ${timeoutMs} ms`);
  }

  /** Like `write`, but waits without blocking the thread (Atomics.waitAsync). */
  async writeAsync(payload: Uint8Array, type = 0, timeoutMs?: number): Promise<void> {
    if (this.tryWrite(payload, type)) return;
    const done = await this.waitStrategy.waitAsync(() => this.tryWrite(payload, type), this.spaceSpot, deadlineAfter(timeoutMs));
    if (!done) throw new TimeoutError(`no room in the ring for ${payload.byteLength} bytes within ${timeoutMs} ms`);
  }

  /** `tryClaim`, waiting for room (blocking; worker threads). */
  claim(type: number, payloadLength: number, timeoutMs?: number): number {
    assertMayBlock('SharedRing.claim');
    let offset = this.tryClaim(type, payloadLength);
    if (offset >= 0) return offset;
    const ready = () => (offset = this.tryClaim(type, payloadLength)) >= 0;
    if (!this.waitStrategy.wait(ready, this.spaceSpot, deadlineAfter(timeoutMs))) {
      throw new TimeoutError(`no room in the ring for ${payloadLength} bytes within ${timeoutMs} ms`);
    }
    return offset;
  }

  /** `tryClaim`, waiting for room without blocking the thread. */
  async claimAsync(type: number, payloadLength: number, timeoutMs?: number): Promise<number> {
    let offset = this.tryClaim(type, payloadLength);
    if (offset >= 0) return offset;
    const ready = () => (offset = this.tryClaim(type, payloadLength)) >= 0;
    if (!(await this.waitStrategy.waitAsync(ready, this.spaceSpot, deadlineAfter(timeoutMs)))) {
      throw new TimeoutError(`no room in the ring for ${payloadLength} bytes within ${timeoutMs} ms`);
    }
    return offset;
  }

  // ---------------------------------------------------------------- consumer

  /**
   * Hands up to `maxFrames` published frames to `handler` in order, zero-copy, then frees their
   * space. Returns how many frames it handed over. If the handler throws, the frames before it
   * and the one it threw on count as consumed.
   */
  drain(handler: FrameHandler, maxFrames = Infinity): number {
    const words = this.words;
    const data = this.data;
    // Space goes back to the producers in slices of an eighth of the ring, not only at the end:
    // a consumer working through a full ring of large frames would otherwise keep producers
    // waiting for all of it, and then itself wait while they refill.
    const slice = this.capacity >>> 3;
    let head = Atomics.load(words, READ);
    if (this.holdsBack(head)) this.settleHeld();
    let consumed = 0;
    let unreleased = 0;
    let unreleasedFrames = 0;
    let frames = 0;
    try {
      while (frames < maxFrames && consumed < this.capacity) {
        const index = (head + unreleased) & this.mask;
        const base = (D.HEADER_LENGTH + index) >> 2;
        const length = Atomics.load(words, base);
        if (length <= 0) {
          // Nothing published here: the ring is empty, or a claim holds the head. Only a drain
          // that got nowhere looks at which (a live producer publishes within the bound anyway).
          if (consumed === 0 && this.unblockIfStalled(head)) {
            head = Atomics.load(words, READ);
            continue;
          }
          break;
        }
        // One unsigned compare: a length below the header's or past the end of the region.
        if ((length - D.FRAME_HEADER_LENGTH) >>> 0 > this.capacity - index - D.FRAME_HEADER_LENGTH) this.corruptFrame(index, length);
        const type = words[base + 1]!;
        const aligned = D.alignFrame(length);
        consumed += aligned;
        unreleased += aligned;
        let more = true;
        if (type !== D.PADDING_TYPE) {
          frames++;
          unreleasedFrames++;
          more = handler(type, data, index + D.FRAME_HEADER_LENGTH, length - D.FRAME_HEADER_LENGTH) !== false;
        }
        if (!more) break;
        if (unreleased >= slice) {
          this.release(head, unreleased, unreleasedFrames);
          head = (head + unreleased) | 0;
          unreleased = 0;
          unreleasedFrames = 0;
        }
      }
    } finally {
      if (unreleased > 0) this.release(head, unreleased, unreleasedFrames);
    }
    return frames;
  }

  /** Copies out the next frame, or null if none is published now. */
  tryRead(): Frame | null {
    let frame: Frame | null = null;
    this.drain((type, data, offset, length) => {
      frame = { type, payload: data.slice(offset, offset + length) };
    }, 1);
    return frame;
  }

  /** Blocking read (worker threads). Null once the ring is closed and drained. */
  read(timeoutMs?: number): Frame | null {
    assertMayBlock('SharedRing.read');
    const deadline = deadlineAfter(timeoutMs);
    for (;;) {
      const frame = this.tryRead();
      if (frame !== null) return frame;
      if (!this.waitReadableUntil(deadline)) return null;
    }
  }

  /** Like `read`, without blocking the thread. Resolves null once the ring is closed and drained. */
  async readAsync(timeoutMs?: number): Promise<Frame | null> {
    const deadline = deadlineAfter(timeoutMs);
    for (;;) {
      const frame = this.tryRead();
      if (frame !== null) return frame;
      if (!(await this.readableUntil(deadline))) return null;
    }
  }

  /**
   * Blocks (worker threads) until a frame is ready to drain: true; or the ring is closed and
   * drained: false. TimeoutError after `timeoutMs`.
   */
  waitReadable(timeoutMs?: number): boolean {
    assertMayBlock('SharedRing.waitReadable');
    return this.waitReadableUntil(deadlineAfter(timeoutMs));
  }

  /** Like `waitReadable`, without blocking the thread. */
  readable(timeoutMs?: number): Promise<boolean> {
    return this.readableUntil(deadlineAfter(timeoutMs));
  }

  /** True when the next frame is published (it may be padding, which drain skips). */
  hasFrame(): boolean {
    const read = Atomics.load(this.words, READ);
    return Atomics.load(this.words, (D.HEADER_LENGTH + (read & this.mask)) >> 2) > 0;
  }

  // ---------------------------------------------------------------- lifecycle and liveness

  /** Refuses further writes and wakes every waiter. Frames already written can still be read. */
  close(): void {
    if (Atomics.exchange(this.words, CLOSED, 1) !== 0) return;
    wakeAll(this.dataSpot);
    wakeAll(this.spaceSpot);
  }

  get closed(): boolean {
    return Atomics.load(this.words, CLOSED) !== 0;
  }

  /** Closed, and every claimed frame has been consumed. */
  get drained(): boolean {
    return this.closed && Atomics.load(this.words, READ) === Atomics.load(this.words, TAIL);
  }

  /** A fresh id from the ring's correlation counter (1, 2, …, wrapping at 2^32; never 0). */
  nextCorrelationId(): number {
    let id = (Atomics.add(this.words, CORRELATION, 1) + 1) >>> 0;
    while (id === 0) id = (Atomics.add(this.words, CORRELATION, 1) + 1) >>> 0;
    return id;
  }

  /** The consumer's liveness beat: it records the time. Parked consumers beat each time they park. */
  beat(): void {
    this.floats[HEARTBEAT] = Date.now();
  }

  /** Date.now() of the consumer's last beat, 0 if it never beat. */
  get lastHeartbeat(): number {
    return this.floats[HEARTBEAT]!;
  }

  stats(): RingStats {
    const words = this.words;
    // READ before HEAD before TAIL: a release (READ, then HEAD) in between can only make the
    // held count read low, never above the used count.
    const read = Atomics.load(words, READ);
    const head = Atomics.load(words, HEAD);
    const used = (Atomics.load(words, TAIL) - head) | 0;
    return {
      capacity: this.capacity,
      maxPayloadLength: this.maxPayloadLength,
      multiProducer: this.multiProducer,
      usedBytes: used,
      freeBytes: this.capacity - used,
      framesRead: Atomics.load(words, FRAMES_READ) >>> 0,
      consumerParked: Atomics.load(words, this.dataSpot.waitersIndex),
      producersParked: Atomics.load(words, this.spaceSpot.waitersIndex),
      closed: this.closed,
      lastHeartbeat: this.lastHeartbeat,
      unblocked: Atomics.load(words, UNBLOCKED) >>> 0,
      heldBytes: Math.max(0, (read - head) | 0),
    };
  }

  // ---------------------------------------------------------------- internals

  /**
   * Claims space for a run of frames starting at the tail: an optional padding frame (when the
   * first frame does not fit before the end), then up to `maxFrames` frames (at least one), as
   * many as fit in the free space, before the end of the region and within `maxBytes`. Frames are
   * `stride` bytes each (aligned), or, when `stride` is 0, sized after `payloads[from + k]`.
   * Returns the data index of the first frame, or -1 when none fits; the number of frames claimed
   * is left in `runFrames`. The padding frame is published here; the frames are not (their length
   * words still read 0).
   */
  private claimRun(maxFrames: number, stride: number, payloads: readonly Uint8Array[] | null, from: number, maxBytes: number): number {
    const words = this.words;
    const capacity = this.capacity;
    const multi = this.multiProducer;
    const first = stride !== 0 ? stride : D.alignFrame(D.FRAME_HEADER_LENGTH + payloads![from]!.length);
    for (;;) {
      const tail = multi ? Atomics.load(words, TAIL) : words[TAIL]!;
      const toEnd = capacity - (tail & this.mask);
      const padding = first > toEnd ? toEnd : 0;
      let free = capacity - ((tail - words[HEAD_CACHE]!) | 0) - padding;
      // The head cache may understate the room: look at the real head when it would cut the run
      // short (one read per run, not per frame).
      if (free < first || free < maxBytes) {
        const head = Atomics.load(words, HEAD);
        words[HEAD_CACHE] = head;
        free = capacity - ((tail - head) | 0) - padding;
        if (free < first) return -1;
      }
      let room = padding !== 0 ? capacity : toEnd;
      if (room > free) room = free;
      if (room > maxBytes) room = maxBytes;
      if (room < first) room = first; // maxBytes never refuses the first frame
      let bytes: number;
      let frames: number;
      if (stride !== 0) {
        frames = Math.min(maxFrames, Math.floor(room / stride));
        bytes = frames * stride;
      } else {
        bytes = first;
        frames = 1;
        while (frames < maxFrames) {
          const next = bytes + D.alignFrame(D.FRAME_HEADER_LENGTH + payloads![from + frames]!.length);
          if (next > room) break;
          bytes = next;
          frames++;
        }
      }
      const next = (tail + padding + bytes) | 0;
      if (multi) {
        if (Atomics.compareExchange(words, TAIL, tail, next) !== tail) continue;
      } else {
        words[TAIL] = next; // only this thread writes it; see tryClaim
      }
      const start = this.padTo(tail, padding);
      // The run's claim marker; on a failed CAS the consumer swept the run up unwritten (see reserveMarked).
      if (Atomics.compareExchange(words, (D.HEADER_LENGTH + start) >> 2, 0, -bytes) !== 0) continue;
      this.runFrames = frames;
      this.runBytes = bytes;
      return start;
    }
  }

  private runFrames = 0;
  private runBytes = 0;

  /**
   * The shared part of encodeMany / encodeManyAsync: checks the arguments (throwing before
   * anything is written) and returns `step`, which writes what fits now and says whether it wrote
   * anything (what a wait strategy's `ready` must answer), and `finished`.
   */
  private encodeBatch(
    type: number,
    payloadLength: number,
    count: number,
    encode: FrameEncoder,
    runFrames?: number,
  ): { step: () => boolean; finished: () => boolean } {
    const aligned = D.alignFrame(D.FRAME_HEADER_LENGTH + payloadLength);
    if (!(aligned <= this.maxFrame && payloadLength >= 0)) this.rejectFrame(type, payloadLength);
    if ((type >>> 0) > D.MAX_FRAME_TYPE || type !== Math.trunc(type)) this.rejectFrame(type, payloadLength);
    checkFrameCount(count, 'count');
    if (count === Infinity) throw new RingRangeError('count must be finite');
    const run = runFrames ?? Math.max(1, Math.min(DEFAULT_RUN_FRAMES, Math.floor(DEFAULT_RUN_BYTES / aligned)));
    checkFrameCount(run, 'runFrames');
    if (run < 1) throw new RingRangeError('runFrames must be at least 1');
    if (this.words[CLOSED] !== 0) throw new RingClosedError();
    let done = 0;
    const step = (): boolean => {
      const before = done;
      while (done < count) {
        if (this.words[CLOSED] !== 0) throw new RingClosedError();
        const frames = this.encodeRun(type, payloadLength, aligned, Math.min(run, count - done), encode, done);
        if (frames === 0) break;
        done += frames;
      }
      return done > before || done === count;
    };
    return { step, finished: () => done === count };
  }


  /**
   * One run of tryEncodeMany: frames after the first get their headers as they are encoded (plain
   * stores), and the first frame's length is stored last, with Atomics.store. The consumer reads
   * frames in order and cannot pass a frame whose length reads 0, so it reaches none of the run
   * before that store, and the store (release) orders every write of the run before it.
   */
  private encodeRun(type: number, payloadLength: number, aligned: number, maxFrames: number, encode: FrameEncoder, indexBase: number): number {
    if (maxFrames <= 0) return 0;
    const start = this.claimRun(maxFrames, aligned, null, 0, maxFrames >= this.capacity / aligned ? this.capacity : maxFrames * aligned);
    if (start < 0) return 0;
    const frames = this.runFrames;
    const words = this.words;
    const data = this.data;
    const frameLength = D.FRAME_HEADER_LENGTH + payloadLength;
    const firstBase = (D.HEADER_LENGTH + start) >> 2;
    let k = 0;
    try {
      words[firstBase + 1] = type;
      encode(data, start + D.FRAME_HEADER_LENGTH, indexBase);
      for (k = 1; k < frames; k++) {
        const at = start + k * aligned;
        const base = (D.HEADER_LENGTH + at) >> 2;
        words[base + 1] = type;
        words[base] = frameLength;
        encode(data, at + D.FRAME_HEADER_LENGTH, indexBase + k);
      }
    } catch (error) {
      this.publishRun(firstBase, -this.runBytes, frameLength, start, aligned, frames, k);
      throw error;
    }
    const marker = -this.runBytes;
    if (Atomics.compareExchange(words, firstBase, marker, frameLength) !== marker) {
      // Revoked while encoding (a stall past unblockAfterMs): the reader skipped the run, so it is
      // encoded again, from the same indices, in a fresh claim.
      this.acknowledgeRevoke(firstBase);
      return this.encodeRun(type, payloadLength, aligned, maxFrames, encode, indexBase);
    }
    wake(this.dataSpot);
    return frames;
  }

  /**
   * Publishes the first `good` frames of a run of `frames` whose frame `good` failed to encode:
   * that frame becomes a padding frame covering the rest of the run, which the reader skips.
   */
  private publishRun(firstBase: number, marker: number, frameLength: number, start: number, aligned: number, frames: number, good: number): void {
    const words = this.words;
    const base = (D.HEADER_LENGTH + start + good * aligned) >> 2;
    words[base + 1] = D.PADDING_TYPE;
    // A failed CAS: the consumer revoked the run already, and skips it whole.
    let published: boolean;
    if (good === 0) {
      published = Atomics.compareExchange(words, base, marker, frames * aligned) === marker;
    } else {
      words[base] = (frames - good) * aligned;
      published = Atomics.compareExchange(words, firstBase, marker, frameLength) === marker;
    }
    if (!published) return this.acknowledgeRevoke(firstBase);
    wake(this.dataSpot);
  }

  /** One run of tryWriteMany, from `payloads[from]`: copies, then publishes as encodeRun does. */
  private writeRun(payloads: readonly Uint8Array[], from: number, type: number): number {
    const start = this.claimRun(Math.min(DEFAULT_RUN_FRAMES, payloads.length - from), 0, payloads, from, DEFAULT_RUN_BYTES);
    if (start < 0) return 0;
    const frames = this.runFrames;
    const words = this.words;
    const data = this.data;
    const firstBase = (D.HEADER_LENGTH + start) >> 2;
    let at = start;
    for (let k = 0; k < frames; k++) {
      const payload = payloads[from + k]!;
      const frameLength = D.FRAME_HEADER_LENGTH + payload.length;
      data.set(payload, at + D.FRAME_HEADER_LENGTH);
      const base = (D.HEADER_LENGTH + at) >> 2;
      words[base + 1] = type;
      if (k !== 0) words[base] = frameLength;
      at += D.alignFrame(frameLength);
    }
    const marker = -this.runBytes;
    if (Atomics.compareExchange(words, firstBase, marker, D.FRAME_HEADER_LENGTH + payloads[from]!.length) !== marker) {
      // Revoked while copying: the reader skipped the run, which goes again in a fresh claim.
      this.acknowledgeRevoke(firstBase);
      return this.writeRun(payloads, from, type);
    }
    wake(this.dataSpot);
    return frames;
  }

  /**
   * Frees `consumed` bytes of frames read from `read` on: zeroes their slots and moves the read
   * position, and head with it unless a revoked claim behind them is held back.
   */
  private release(read: number, consumed: number, frames: number): void {
    const words = this.words;
    this.clearSpan(read, consumed);
    // The frames-read count is only for stats(): a plain store, ordered by the stores below.
    words[FRAMES_READ] = (words[FRAMES_READ]! + frames) | 0;
    const next = (read + consumed) | 0;
    Atomics.store(words, READ, next);
    this.stallWatched = false;
    if (this.held.length === 0) {
      Atomics.store(words, HEAD, next);
      wake(this.spaceSpot);
    }
  }

  /** Zeroes the slots of `bytes` bytes from ring position `from` (across the wrap if need be). */
  private clearSpan(from: number, bytes: number): void {
    const index = from & this.mask;
    const beforeEnd = Math.min(bytes, this.capacity - index);
    this.clearFrameStarts(index, index + beforeEnd);
    if (bytes > beforeEnd) this.clearFrameStarts(0, bytes - beforeEnd);
  }

  // ---------------------------------------------------------------- revoking stuck claims

  /**
   * Revokes the unpublished claim at the read position now, whatever its age: for a consumer that
   * knows the producer holding it is dead (a terminated worker). Consumer only. True when it
   * revoked one (counted in `stats().unblocked`); false when a published frame is next or the
   * ring is empty. Its space is held back as any revoked claim's is (`releaseRevoked()` hands it
   * on at once). See descriptor.ts for the rule, and what becomes of a producer that was only slow.
   */
  unblock(): boolean {
    // First what an earlier consumer held back (a consumer that took the ring over): the hold
    // list must start at head.
    this.settleHeld();
    const read = Atomics.load(this.words, READ);
    const tail = Atomics.load(this.words, TAIL);
    if (read === tail) return false;
    return this.revoke(read, tail);
  }

  /**
   * Hands the space of every revoked claim back to the producers now, acknowledged or not: for an
   * owner that knows no producer of those claims can still write (their threads are gone).
   * Consumer only. Returns the bytes it freed.
   */
  releaseRevoked(): number {
    const before = (Atomics.load(this.words, READ) - Atomics.load(this.words, HEAD)) | 0;
    this.settleHeld(true);
    return before;
  }

  /** Whether any space is held back (head trails the read position `read`): a plain read, for drain's every call. */
  private holdsBack(read: number): boolean {
    return this.held.length !== 0 || this.words[HEAD] !== read;
  }

  /**
   * Hands on the space of the held-back claims, oldest first, that are acknowledged or past
   * reclaimAfterMs (all of them when `all`), and with it the frames read behind them.
   */
  private settleHeld(all = false): void {
    const words = this.words;
    const held = this.held;
    const read = Atomics.load(words, READ);
    const head = Atomics.load(words, HEAD);
    if (held.length === 0) {
      if (head === read) return;
      // Held back by an earlier consumer of this ring; which claims it held went with it, so all of it waits.
      held.push({ start: head, span: (read - head) | 0, ackIndex: -1, since: now() });
    }
    const at = now();
    let released = false;
    while (held.length > 0) {
      const claim = held[0]!;
      if (!(all || this.releasable(claim, at))) break;
      held.shift();
      this.clearSpan(claim.start, claim.span);
      released = true;
    }
    if (!released) return;
    Atomics.store(words, HEAD, held.length > 0 ? held[0]!.start : read);
    wake(this.spaceSpot);
  }

  /** A held-back claim may be handed on at time `at`: its producer acknowledged, or reclaimAfterMs is up. */
  private releasable(claim: HeldClaim, at: number): boolean {
    if (claim.ackIndex >= 0 && Atomics.load(this.words, claim.ackIndex) === D.ACKED_LENGTH) return true;
    return this.reclaimAfterMs !== 0 && at - claim.since >= this.reclaimAfterMs;
  }

  /** True when the oldest held-back claim can be handed on now (a waiting reader wakes for it). */
  private heldSettleable(): boolean {
    const claim = this.held[0];
    return claim !== undefined && this.releasable(claim, now());
  }

  /**
   * Called when the slot at `head` holds nothing published: starts timing a claim there, or
   * revokes it once it has held the head for unblockAfterMs. True when it revoked.
   */
  private unblockIfStalled(head: number): boolean {
    const tail = Atomics.load(this.words, TAIL);
    if (tail === head) return false;
    const at = now();
    if (!this.stallWatched || this.stallHead !== head) {
      this.watchStall(head, at);
      return false;
    }
    if (this.unblockAfterMs === 0 || at - this.stallSince < this.unblockAfterMs) return false;
    return this.revoke(head, tail);
  }

  private watchStall(head: number, at: number): void {
    this.stallWatched = true;
    this.stallHead = head;
    this.stallSince = at;
  }

  /** Revokes the claim at `read` (see descriptor.ts); false if it got published meanwhile. */
  private revoke(read: number, tail: number): boolean {
    const words = this.words;
    const index = read & this.mask;
    const base = (D.HEADER_LENGTH + index) >> 2;
    const toEnd = this.capacity - index;
    const pending = (tail - read) | 0;
    const length = Atomics.load(words, base);
    if (length > 0) return false;
    let span: number;
    let ackIndex = -1;
    if (length < 0) {
      span = D.alignFrame(-length);
      if (span > toEnd || span > pending || -length < D.FRAME_HEADER_LENGTH) this.corruptFrame(index, length);
      if (Atomics.compareExchange(words, base, length, D.REVOKED_LENGTH) !== length) return false;
      ackIndex = base;
    } else {
      // Sweep the unmarked slots: a producer that marks one of them later finds it taken.
      if (Atomics.compareExchange(words, base, 0, D.REVOKED_LENGTH) !== 0) return false;
      const limit = pending < toEnd ? pending : toEnd;
      span = limit;
      for (let at = D.FRAME_ALIGNMENT; at < limit; at += D.FRAME_ALIGNMENT) {
        if (Atomics.compareExchange(words, base + (at >> 2), 0, D.REVOKED_LENGTH) !== 0) {
          span = at;
          break;
        }
      }
    }
    Atomics.store(words, UNBLOCKED, (words[UNBLOCKED]! + 1) | 0);
    this.held.push({ start: read, span, ackIndex, since: now() });
    Atomics.store(words, READ, (read + span) | 0);
    this.stallWatched = false;
    return true;
  }

  private corruptFrame(index: number, length: number): never {
    const why = length < 0 ? `claims ${D.alignFrame(-length)} bytes, past the end of the region or the claimed space` : length < D.FRAME_HEADER_LENGTH ? `is below the ${D.FRAME_HEADER_LENGTH}-byte frame header` : `runs past the end of the ${this.capacity}-byte region`;
    throw new CorruptFrameError(index, length, why);
  }

  /**
   * Zeroes the length word of every 8-byte slot in [from, to): a future frame may start at any of
   * them, and its length must read 0 until its producer claims it. Only those words matter, and
   * plain stores beat TypedArray.fill, which V8 runs element by element on shared memory.
   */
  private clearFrameStarts(from: number, to: number): void {
    // Large spans (batch frames): copying zeros in runs as a memcpy, about twice as fast as a store
    // per slot (the memcpy writes every byte, the loop one word in two).
    for (; to - from >= ZERO_RUN; from += ZERO_RUN) this.data.set(ZEROS, from);
    const words = this.words;
    const end = (D.HEADER_LENGTH + to) >> 2;
    for (let i = (D.HEADER_LENGTH + from) >> 2; i < end; i += 2) words[i] = 0;
  }

  /**
   * What a waiting reader waits for: a frame, the end, or a claim holding the head that it does
   * not time yet (it comes back to bound its park by the claim's revoke time).
   */
  private readyToRead = (): boolean => this.hasFrame() || this.drained || this.unwatchedStall() || this.heldSettleable();

  private unwatchedStall(): boolean {
    if (this.unblockAfterMs === 0) return false;
    const read = Atomics.load(this.words, READ);
    return Atomics.load(this.words, TAIL) !== read && !(this.stallWatched && this.stallHead === read);
  }

  /**
   * `deadline`, or sooner the time the claim holding the head (if one does) gets revoked; starts
   * timing that claim.
   */
  private waitDeadline(deadline: number): number {
    let until = deadline;
    const claim = this.held[0];
    if (claim !== undefined && this.reclaimAfterMs !== 0) until = Math.min(until, claim.since + this.reclaimAfterMs);
    if (this.unblockAfterMs === 0) return until;
    const read = Atomics.load(this.words, READ);
    if (Atomics.load(this.words, TAIL) === read) return until;
    if (!this.stallWatched || this.stallHead !== read) this.watchStall(read, now());
    return Math.min(until, this.stallSince + this.unblockAfterMs);
  }

  /**
   * Before and after a wait that ended without a frame: hands on held-back space that is due,
   * and revokes a claim that held the read position too long.
   */
  private revokeIfDue(): void {
    const words = this.words;
    const read = Atomics.load(words, READ);
    if (this.holdsBack(read)) this.settleHeld();
    if (Atomics.load(words, (D.HEADER_LENGTH + (read & this.mask)) >> 2) <= 0) this.unblockIfStalled(read);
  }

  private waitReadableUntil(deadline: number): boolean {
    // A consumer that keeps up asks between every drain: answer from the ring when a frame is
    // there, before the strategy reads the clock.
    for (;;) {
      if (this.hasFrame()) return true;
      this.revokeIfDue();
      if (this.hasFrame()) return true;
      const until = this.waitDeadline(deadline);
      if (this.waitStrategy.wait(this.readyToRead, this.dataSpot, until)) {
        if (this.hasFrame()) return true;
        if (this.drained) return false;
      } else if (until < deadline) {
        this.revokeIfDue();
      } else {
        throw new TimeoutError('no frame arrived in time');
      }
    }
  }

  private async readableUntil(deadline: number): Promise<boolean> {
    for (;;) {
      if (this.hasFrame()) return true;
      this.revokeIfDue();
      if (this.hasFrame()) return true;
      const until = this.waitDeadline(deadline);
      if (await this.waitStrategy.waitAsync(this.readyToRead, this.dataSpot, until)) {
        if (this.hasFrame()) return true;
        if (this.drained) return false;
      } else if (until < deadline) {
        this.revokeIfDue();
      } else {
        throw new TimeoutError('no frame arrived in time');
      }
    }
  }

  private rejectFrame(type: number, payloadLength: number): never {
    if (!Number.isInteger(type) || type < 0 || type > D.MAX_FRAME_TYPE) {
      throw new RingRangeError(`frame type must be an integer from 0 to ${D.MAX_FRAME_TYPE}, got ${String(type)}`);
    }
    if (!Number.isInteger(payloadLength) || payloadLength < 0) {
      throw new RingRangeError(`payload length must be a non-negative integer, got ${String(payloadLength)}`);
    }
    throw new FrameTooLargeError(D.FRAME_HEADER_LENGTH + payloadLength, this.maxFrame);
  }
}

/** Frames per published run of tryWriteMany, and of encodeMany(Async) unless the caller says otherwise. */
const DEFAULT_RUN_FRAMES = 32;
/** ...and at most this many bytes per run, so large frames still go out in small runs. */
const DEFAULT_RUN_BYTES = 4096;

function checkFrameCount(count: number, name: string): void {
  if (!(Number.isInteger(count) && count >= 0) && count !== Infinity) {
    throw new RingRangeError(`${name} must be a non-negative integer, got ${String(count)}`);
  }
}

/** Blocking calls are refused on the main thread, even when they would not have to wait this time. */
function assertMayBlock(what: string): void {
  if (isMainThread) throw new BlockingOnMainThreadError(what);
}

function validateCapacity(capacity: unknown): number {
  if (typeof capacity !== 'number' || !D.isPowerOfTwo(capacity)) {
    throw new InvalidCapacityError(`ring capacity must be a power of two (bytes), got ${String(capacity)}`);
  }
  if (capacity < D.MIN_CAPACITY || capacity > D.MAX_CAPACITY) {
    throw new InvalidCapacityError(`ring capacity must be from ${D.MIN_CAPACITY} to ${D.MAX_CAPACITY} bytes, got ${capacity}`);
  }
  return capacity;
}
