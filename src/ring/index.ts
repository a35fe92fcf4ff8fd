export { SharedRing } from './shared-ring.js';
export type { SharedRingOptions, AttachOptions, EncodeManyOptions, FrameHandler, FrameEncoder, Frame, RingStats } from './shared-ring.js';
export { ClaimRevokedError, CorruptFrameError, FrameTooLargeError, InvalidCapacityError, InvalidPayloadError, InvalidRingError, RingClosedError, RingRangeError, TimeoutError } from './errors.js';
export { SpinThenParkStrategy, BusySpinStrategy, defaultWaitStrategy } from '../sync/index.js';
export type { WaitStrategy, SpinThenParkOptions } from '../sync/index.js';
export * as RingDescriptor from './descriptor.js';
