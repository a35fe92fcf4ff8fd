import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import { serviceRequestNames, type ServiceRequestNames } from '../codec/index.js';
import { wholeRegion, type Region } from '../codec/memory.js';
import { SharedRing } from '../ring/index.js';
import { defaultWaitStrategy, wake, type ParkingSpot, type WaitStrategy } from '../sync/index.js';
import { TimeoutError, ServiceUnavailableError, UnknownMethodError } from './errors.js';
import { LatencyHistogram } from './histogram.js';
import { isCallableName } from './methods.js';
import {
  bellAt,
  C_STATE,
  histogramBase,
  I_EPOCH,
  I_ADMITTED,
  I_HOST_BELL,
  I_OVERDUE,
  I_SUSPECT,
  I_TAKEN,
  instanceBase,
  queueSpot,
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
  /** Each request ring's data as a codec region, checked once (requests are stamped into it). */
  readonly regions: Region[];
  /** Each instance's host doorbell: woken after writing a request. */
  readonly bells: ParkingSpot[];
  readonly queueLimit: number;
  readonly whenFull: 'wait' | 'fail';
  readonly timeoutMs: number;
  readonly histogram: LatencyHistogram;
  /** Where this thread's calls wait for room in each instance's queue. */
  private readonly queueSpots: ParkingSpot[];
  /** How they wait there (the caller's spin budget; see ServiceCaller). */
  private readonly waits: WaitStrategy;
  private methods: Set<string> | null;
  /** The last method name that passed `check`, and the last names `requestNames` returned. */
  private lastMethod: string | undefined;
  private lastNames: ServiceRequestNames | undefined;
  /** Each instance's `taken` count as last read (see tryAdmit). */
  private readonly takenSeen: Int32Array;
  private admissions = 0;
  /** The names of this service and its methods, encoded for requests (see requestNames). */
  private readonly names = new Map<string, ServiceRequestNames>();
  private next = 0;

  constructor(descriptor: ServiceDescriptor, waits: WaitStrategy = defaultWaitStrategy) {
    this.name = descriptor.name;
    this.id = descriptor.id;
    this.placement = descriptor.placement;
    this.instances = descriptor.instances;
    this.control = new Int32Array(descriptor.control);
    this.rings = descriptor.rings.map((buffer) => SharedRing.attach(buffer));
    this.regions = this.rings.map((ring) => wholeRegion(ring.data));
    this.bells = this.rings.map((_, i) => bellAt(this.control, instanceBase(i) + I_HOST_BELL));
    this.queueSpots = this.rings.map((_, i) => queueSpot(this.control, i));
    this.takenSeen = new Int32Array(this.instances);
    for (let i = 0; i < this.instances; i++) this.takenSeen[i] = Atomics.load(this.control, instanceBase(i) + I_TAKEN);
    this.waits = waits;
    this.queueLimit = descriptor.requestQueueSize;
    this.whenFull = descriptor.whenFull;
    this.timeoutMs = descriptor.timeoutMs;
    this.histogram = new LatencyHistogram(this.control, histogramBase(descriptor.instances));
    this.methods = descriptor.methods === null ? null : new Set(descriptor.methods);
  }

  setMethods(methods: readonly string[]): void {
    this.methods = new Set(methods);
    this.lastMethod = undefined;
    this.lastNames = undefined;
  }

  get stateCode(): number {
    return Atomics.load(this.control, C_STATE);
  }

  /** Throws what a call must fail with before anything is sent: unknown method, service down. */
  check(method: string): void {
    // Calls name the same method again and again: the last name that passed needs no lookup.
    if (method !== this.lastMethod) {
      if (typeof method !== 'string' || !isCallableName(method) || (this.methods !== null && !this.methods.has(method))) {
        throw new UnknownMethodError(this.name, method);
      }
      this.lastMethod = method;
    }
    const state = Atomics.load(this.control, C_STATE);
    if (state !== ServiceState.running && state !== ServiceState.restarting && state !== ServiceState.starting) {
      throw this.unavailable(state);
    }
  }

  /** This service's and `method`'s names, encoded once for the requests that name them. */
  requestNames(method: string): ServiceRequestNames {
    const last = this.lastNames;
    if (last !== undefined && last.method === method) return last;
    let names = this.names.get(method);
    if (names === undefined) {
      // Method names are checked before (and known ones are few); the bound is for a service
      // whose methods are not known yet, called with ever new names.
      if (this.names.size >= 1024) this.names.clear();
      names = serviceRequestNames(this.name, method);
      this.names.set(method, names);
    }
    this.lastNames = names;
    return names;
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
    const n = this.instances;
    let i = this.next;
    // An instance whose heartbeat stalled with work queued (a long method, or a hang) is skipped
    // while another is not (one plain read of the line the call writes anyway).
    for (let tries = 1; tries < n && this.control[instanceBase(i) + I_SUSPECT] !== 0; tries++) i = i + 1 === n ? 0 : i + 1;
    this.next = i + 1 === n ? 0 : i + 1;
    return i;
  }

  /** Counts a call to `instance` that passed its deadline unanswered (the manager's hang watch reads it). */
  markOverdue(instance: number): void {
    Atomics.add(this.control, instanceBase(instance) + I_OVERDUE, 1);
  }

  epoch(instance: number): number {
    return Atomics.load(this.control, instanceBase(instance) + I_EPOCH);
  }

  /**
   * Takes a place in the instance's queue; false when it is full. The places in use are
   * `admitted - taken`; `taken` (the host's line) is read again only when the last reading says
   * the queue may be full, or every 1024 admissions (so that a reading never gets old enough for
   * the wrapping counters to alias).
   */
  tryAdmit(instance: number): boolean {
    const base = instanceBase(instance);
    const control = this.control;
    const admitted = Atomics.add(control, base + I_ADMITTED, 1);
    const limit = this.queueLimit;
    let inUse = (admitted - this.takenSeen[instance]!) | 0;
    if (inUse >= 0 && inUse < limit && (++this.admissions & 1023) !== 0) return true;
    const taken = Atomics.load(control, base + I_TAKEN);
    this.takenSeen[instance] = taken;
    inUse = (admitted - taken) | 0;
    if (inUse < limit) return true;
    Atomics.sub(control, base + I_ADMITTED, 1);
    return false;
  }

  /** Gives a place back (the request was not written after all). */
  release(instance: number): void {
    Atomics.sub(this.control, instanceBase(instance) + I_ADMITTED, 1);
    wake(this.queueSpots[instance]!);
  }

  /** Waits (without blocking the thread) for a place in the queue; throws on deadline, abort or when the service goes down. */
  async admitAsync(instance: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const ready = (): boolean => {
      if (this.tryAdmit(instance)) return true;
      this.throwIfCannotWait(deadline, signal);
      return false;
    };
    if (!(await this.waits.waitAsync(ready, this.queueSpots[instance]!, deadline))) throw this.queueTimeout();
  }

  /** Blocks for a place in the queue (worker threads, or the main thread where blocking is allowed). */
  admitSync(instance: number, deadline: number): void {
    let admitted = false;
    const ready = (): boolean => (admitted = this.tryAdmit(instance)) || this.stateCode >= ServiceState.failed;
    const ok = isMainThread ? pollOnMainThread(ready, deadline) : this.waits.wait(ready, this.queueSpots[instance]!, deadline);
    if (!ok) throw this.queueTimeout();
    if (!admitted) throw this.unavailable();
  }

  /** Claims a frame in a full ring, blocking until room, the deadline, or the ring closes (RingClosedError). */
  claimSync(instance: number, type: number, length: number, deadline: number): number {
    const ring = this.rings[instance]!;
    let offset = -1;
    const ready = (): boolean => (offset = ring.tryClaim(type, length)) >= 0;
    if (isMainThread) {
      if (pollOnMainThread(ready, deadline)) return offset;
    } else {
      try {
        return ring.claim(type, length, deadline === Infinity ? undefined : Math.max(0, deadline - performance.now()));
      } catch (error) {
        if (!(error instanceof TimeoutError)) throw error;
      }
    }
    throw new TimeoutError(`no room in the request ring of service '${this.name}' before the call's deadline`);
  }

  private queueTimeout(): TimeoutError {
    return new TimeoutError(`no room in the request queue of service '${this.name}' before the call's deadline`);
  }

  private throwIfCannotWait(deadline: number, signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw signal.reason;
    if (performance.now() >= deadline) throw this.queueTimeout();
    const state = this.stateCode;
    if (state >= ServiceState.failed || state === ServiceState.stopped) throw this.unavailable(state);
  }
}

/**
 * A blocking wait on the main thread, which only a ServiceManager with allowBlockingOnMainThread
 * asks for (a callSync from the main thread into a full queue or ring). The sync layer's blocking
 * waits (wait strategies, SharedRing.claim) refuse the main thread by design, so this one does not
 * park on their words: it re-checks `ready()` every millisecond until the deadline. Slower to
 * notice room than a parked waiter, but the path is rare and leaves the ring's wake protocol alone.
 */
function pollOnMainThread(ready: () => boolean, deadline: number): boolean {
  for (;;) {
    if (ready()) return true;
    const remaining = deadline - performance.now();
    if (remaining <= 0) return false;
    Atomics.wait(sleeper, 0, 0, Math.min(remaining, 1));
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
