/**
 * How often a ring's consumer had to be woken from a park: every `wake()` that found a parked
 * consumer bumps the ring's data-signal word (see src/ring/descriptor.ts). Reading it before and
 * after a measurement tells whether round trips were served by spinning (≈0 per round trip) or
 * went through the futex (≈1 per round trip on that side), which explains bimodal latencies on
 * a shared box.
 */
import { RingDescriptor, type SharedRing } from '../../src/ring/index.js';

export function consumerWakes(ring: SharedRing): () => number {
  const words = new Int32Array(ring.buffer, 0, RingDescriptor.HEADER_LENGTH >> 2);
  const index = RingDescriptor.DATA_SIGNAL_OFFSET >> 2;
  const start = Atomics.load(words, index);
  return () => (Atomics.load(words, index) - start) | 0;
}
