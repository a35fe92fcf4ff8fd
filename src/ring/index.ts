export { SharedRing } from './shared-ring.js';
export type { SharedRingOptions, AttachOptions, FrameHandler, Frame, RingStats } from './shared-ring.js';
export { FrameTooLargeError, InvalidCapacityError, InvalidRingError, RingClosedError, TimeoutError } from './errors.js';
export {
  SpinThenParkStrategy,
  BusySpinStrategy,
  defaultWaitStrategy,
  wake,
  wakeAll,
  deadlineAfter,
} from './wait-strategy.js';
export type { WaitStrategy, ParkingSpot, SpinThenParkOptions } from './wait-strategy.js';
export * as RingDescriptor from './descriptor.js';
