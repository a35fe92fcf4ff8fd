import { RingflowError } from '../errors.js';

export { TimeoutError } from '../errors.js';

/** A write to a ring that was closed. Nothing was written. */
export class RingClosedError extends RingflowError {
  constructor(message = 'the ring is closed') {
    super('ERR_RING_CLOSED', message);
  }
}

/** A frame larger than the ring can ever hold. Nothing was written; the ring is still usable. */
export class FrameTooLargeError extends RingflowError {
  readonly frameLength: number;
  readonly maxFrameLength: number;
  constructor(frameLength: number, maxFrameLength: number) {
    super(
      'ERR_FRAME_TOO_LARGE',
      `a frame of ${frameLength} bytes (header included) exceeds this ring's limit of ${maxFrameLength} bytes (half its capacity)`,
    );
    this.frameLength = frameLength;
    this.maxFrameLength = maxFrameLength;
  }
}

/** A buffer handed to SharedRing.attach that does not hold a ring of this version. */
export class InvalidRingError extends RingflowError {
  constructor(message: string, code = 'ERR_INVALID_RING') {
    super(code, message);
  }
}

/**
 * A frame header in the ring that no writer could have produced (a length below the header's,
 * or one that runs past the end of the data region): the ring's memory was overwritten. The
 * consumer stops at it; `position` is the frame's byte offset in the data region.
 */
export class CorruptFrameError extends InvalidRingError {
  readonly position: number;
  readonly lengthWord: number;
  constructor(position: number, lengthWord: number, why: string) {
    super(`corrupt frame at byte ${position} of the ring's data region: length word ${lengthWord} ${why}`, 'ERR_CORRUPT_FRAME');
    this.position = position;
    this.lengthWord = lengthWord;
  }
}

/**
 * The consumer gave this producer's claim up (it stayed unpublished past the ring's
 * `unblockAfterMs`, or `unblock()` was called) and skipped it: the frame was not delivered. Thrown
 * by commit() and commitQuietly(); tryCommit() returns false instead, and the write paths that
 * hold the payload (tryWrite, write, tryWriteMany, the encodeMany family) write it again.
 */
export class ClaimRevokedError extends RingflowError {
  constructor() {
    super(
      'ERR_CLAIM_REVOKED',
      'the consumer revoked this claim (it stayed unpublished past the ring\'s unblockAfterMs, or unblock() was called): the frame was not delivered',
    );
  }
}

/**
 * A frame type, payload length or frame count outside its documented range. A RangeError (as a
 * bad number is), with a code.
 */
export class RingRangeError extends RangeError {
  readonly code = 'ERR_OUT_OF_RANGE';
  constructor(message: string) {
    super(message);
    this.name = 'RingRangeError';
  }
}

/** A payload that is not a Uint8Array. A TypeError (as a wrong argument type is), with a code. */
export class InvalidPayloadError extends TypeError {
  readonly code = 'ERR_INVALID_PAYLOAD';
  constructor(payload: unknown) {
    super(`a ring payload must be a Uint8Array (or Buffer), got ${describeValue(payload)}; for another view pass new Uint8Array(view.buffer, view.byteOffset, view.byteLength)`);
    this.name = 'InvalidPayloadError';
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'an object';
}

/** A ring capacity that breaks the rules (power of two, within bounds). */
export class InvalidCapacityError extends RingflowError {
  constructor(message: string) {
    super('ERR_INVALID_CAPACITY', message);
  }
}
