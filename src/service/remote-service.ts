import { performance } from 'node:perf_hooks';
import { RingDescriptor, SharedRing } from '../ring/index.js';
import { TimeoutError, ServiceUnavailableError, UnknownMethodError } from './errors.js';
import { LatencyHistogram } from './histogram.js';
import { isCallableName } from './methods.js';
import { Doorbell } from './doorbell.js';
import { blockUntil } from './park.js';
import {
  C_STATE,
  histogramBase,
  I_EPOCH,
  I_HOST_BELL,
  I_QUEUED,
  I_SPACE_SIGNAL,
  I_SPACE_WAITERS,
  instanceBase,
  STATE_NAMES,
  ServiceState,
  type ServiceDescriptor,
} from './protocol.js';


/**
 * A caller's view of one service: its request rings (one per instance), its shared control block
 * (state, epochs, queue counts, latency histogram) and what a call checks before it writes.
 * One per service per calling thread.
 */
export class RemoteService {
  readonly name: string;
  readonly id: number;
  readonly placement: 'local' | 'worker';
  readonly instances: number;
  readonly control: Int32Array;
  readonly rings: SharedRing[];
  /** Each instance's host doorbell: rung after writing a request. */
  readonly bells: Doorbell[];
  readonly queueLimit: number;
  readonly whenFull: 'wait' | 'fail';
  readonly timeoutMs: number;
  readonly histogram: LatencyHistogram;
  private methods: Set<string> | null;
  private next = 0;

  constructor(descriptor: ServiceDescriptor) {
    this.name = descriptor.name;
    this.id = descriptor.id;
    this.placement = descriptor.placement;
    this.instances = descriptor.instances;
    this.control = new Int32Array(descriptor.control);
    this.rings = descriptor.rings.map((buffer) => SharedRing.attach(buffer));
    this.bells = this.rings.map((_, i) => new Doorbell(this.control, instanceBase(i) + I_HOST_BELL));
    this.queueLimit = descriptor.requestQueueSize;
    this.whenFull = descriptor.whenFull;
    this.timeoutMs = descriptor.timeoutMs;
    this.histogram = new LatencyHistogram(this.control, histogramBase(descriptor.instances));
    this.methods = descriptor.methods === null ? null : new Set(descriptor.methods);
  }

  setMethods(methods: readonly string[]): void {
    this.methods = new Set(methods);
  }

  get stateCode(): number {
    return Atomics.load(this.control, C_STATE);
  }

  /** Throws what a call must fail with before anything is sent: unknown method, service down. */
  check(method: string): void {
    if (typeof method !== 'string' || !isCallableName(method) || (this.methods !== null && !this.methods.has(method))) {
      throw new UnknownMethodError(this.name, method);
    }
    const state = Atomics.load(this.control, C_STATE);
    if (state !== ServiceState.running && state !== ServiceState.restarting && state !== ServiceState.starting) {
      throw this.unavailable(state);
    }
  }

  unavailable(state = this.stateCode): ServiceUnavailableError {
    const reason =
      state === ServiceState.failed
        ? 'it failed (its worker crashed more often than maxRestarts allows)'
        : state === ServiceState.stopping
          ? 'it is stopping'
          : `it is ${STATE_NAMES[state] ?? 'not running'}`;
    return new ServiceUnavailableError(this.name, reason);
  }

  /** The next instance, round-robin. */
  pick(): number {
    if (this.instances === 1) return 0;
    const i = this.next;
    this.next = i + 1 === this.instances ? 0 : i + 1;
    return i;
  }

  epoch(instance: number): number {
    return Atomics.load(this.control, instanceBase(instance) + I_EPOCH);
  }

  /** Takes a place in the instance's queue; false when it is full. */
  tryAdmit(instance: number): boolean {
    const at = instanceBase(instance) + I_QUEUED;
    if (Atomics.add(this.control, at, 1) < this.queueLimit) return true;
    Atomics.sub(this.control, at, 1);
    return false;
  }

  /** Gives a place back (the request was not written after all). */
  release(instance: number): void {
    const base = instanceBase(instance);
    Atomics.sub(this.control, base + I_QUEUED, 1);
    if (Atomics.load(this.control, base + I_SPACE_WAITERS) > 0) {
      Atomics.add(this.control, base + I_SPACE_SIGNAL, 1);
      Atomics.notify(this.control, base + I_SPACE_SIGNAL);
    }
  }

  /** Waits (without blocking the thread) for a place in the queue; throws on deadline, abort or when the service goes down. */
  async admitAsync(instance: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const control = this.control;
    const base = instanceBase(instance);
    for (;;) {
      if (this.tryAdmit(instance)) return;
      this.throwIfCannotWait(deadline, signal);
      Atomics.add(control, base + I_SPACE_WAITERS, 1);
      try {
        const seen = Atomics.load(control, base + I_SPACE_SIGNAL);
        if (Atomics.load(control, base + I_QUEUED) < this.queueLimit) continue;
        const wait = Atomics.waitAsync(control, base + I_SPACE_SIGNAL, seen, Math.min(deadline - performance.now(), 50));
        if (wait.async) await wait.value;
      } finally {
        Atomics.sub(control, base + I_SPACE_WAITERS, 1);
      }
    }
  }

  /** Blocks for a place in the queue (worker threads). */
  admitSync(instance: number, deadline: number, spinMicros: number): void {
    const base = instanceBase(instance);
    let admitted = false;
    const ok = blockUntil(
      () => (admitted = this.tryAdmit(instance)) || this.stateCode >= ServiceState.failed,
      deadline,
      spinMicros,
      this.control,
      base + I_SPACE_SIGNAL,
      base + I_SPACE_WAITERS,
    );
    if (!ok) throw new TimeoutError(`no room in the request queue of service '${this.name}' before the call's deadline`);
    if (!admitted) throw this.unavailable();
  }

  /** Claims a frame in a full ring, blocking until room, the deadline, or the ring closes. */
  claimSync(instance: number, type: number, length: number, deadline: number, spinMicros: number): number {
    const ring = this.rings[instance]!;
    let offset = -1;
    const words = ringWords(ring);
    const ok = blockUntil(
      () => (offset = ring.tryClaim(type, length)) >= 0,
      deadline,
      spinMicros,
      words,
      RingDescriptor.SPACE_SIGNAL_OFFSET >> 2,
      RingDescriptor.PRODUCER_WAITERS_OFFSET >> 2,
    );
    if (!ok) throw new TimeoutError(`no room in the request ring of service '${this.name}' before the call's deadline`);
    return offset;
  }

  private throwIfCannotWait(deadline: number, signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw signal.reason;
    if (performance.now() >= deadline) throw new TimeoutError(`no room in the request queue of service '${this.name}' before the call's deadline`);
    const state = this.stateCode;
    if (state >= ServiceState.failed || state === ServiceState.stopped) throw this.unavailable(state);
  }
}

const ringWordsCache = new WeakMap<SharedArrayBuffer, Int32Array>();
function ringWords(ring: SharedRing): Int32Array {
  let words = ringWordsCache.get(ring.buffer);
  if (words === undefined) {
    words = new Int32Array(ring.buffer, 0, RingDescriptor.HEADER_LENGTH >> 2);
    ringWordsCache.set(ring.buffer, words);
  }
  return words;
}
