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
  constructor(message: string) {
    super('ERR_INVALID_RING', message);
  }
}

/** A ring capacity that breaks the rules (power of two, within bounds). */
export class InvalidCapacityError extends RingflowError {
  constructor(message: string) {
    super('ERR_INVALID_CAPACITY', message);
  }
}
