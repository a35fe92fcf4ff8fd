import { SharedRing } from '../ring/index.js';
import { wake, wakeAll } from '../sync/index.js';
import { LatencyHistogram } from './histogram.js';
import type { AnyFunction } from './methods.js';
import type { ResolvedServiceOptions } from './options.js';
import {
  C_CONTROL,
  C_ERRORS,
  C_EXPIRED,
  C_HUNG,
  C_ORPHANED,
  C_REQUESTS,
  C_RESTARTS,
  C_STALE,
  C_STATE,
  createControlBlock,
  bellAt,
  histogramBase,
  I_EPOCH,
  I_HOST_BELL,
  I_READY,
  instanceBase,
  queuedOf,
  queueSpot,
  STATE_NAMES,
  ServiceState,
  type ReplyRingEntry,
  type ServiceClientHandle,
  type ServiceDescriptor,
  type ServiceStateName,
} from './protocol.js';

/** What a task needs from its manager. */
export interface TaskRuntime {
  /** Every reply ring registered so far: id, ring buffer, doorbell buffer. */
  replyRings(): ReplyRingEntry[];
  /** A new client (own reply ring, registered with every host) for a host thread to call other services. */
  newClient(): Promise<ServiceClientHandle>;
  /** Tells every caller thread that an instance went down (instance -1: the whole service). */
  instanceDown(serviceId: number, instance: number, epoch: number, reason: number): void;
  /** The services as the main thread calls them (async), for the context of local services. */
  readonly mainThreadServices: Record<string, Record<string, AnyFunction>>;
}

/** A snapshot of one service's health and load. */
export interface ServiceStatus {
  name: string;
  placement: 'local' | 'worker';
  state: ServiceStateName;
  instances: number;
  /** Requests executed (by every caller thread). */
  requests: number;
  /** Of those, how many threw, rejected, or named an unknown method. */
  errors: number;
  /** Requests dropped unexecuted because their deadline had passed. */
  expired: number;
  /** Requests dropped after a restart (their callers were failed with ServiceUnavailableError). */
  stale: number;
  restarts: number;
  /** Of the restarts, how many replaced an instance declared hung (heartbeat stopped while a call to it was overdue). */
  hung: number;
  /** Calls from this thread waiting for an answer. */
  inFlight: number;
  /** Requests waiting in the instances' queues now. */
  queued: number;
  /** Round-trip latency as callers measured it (µs), successful calls (of sync calls, a sample: one in 8). */
  latency: { p50: number; p99: number; samples: number };
  /** Date.now() of the oldest instance's last heartbeat (the request ring consumer's beat); 0 if never. */
  lastHeartbeat: number;
}

/**
 * What every service task shares: the shared control block (state, counters, epochs, queue
 * counts, latency histogram), a request ring per instance, and the lifecycle the manager drives:
 * setup → start → (serve) → stop → cleanup.
 */
export abstract class BaseServiceTask {
  readonly name: string;
  readonly id: number;
  readonly target: unknown;
  readonly options: ResolvedServiceOptions;
  readonly control: SharedArrayBuffer;
  readonly rings: SharedRing[];
  readonly histogram: LatencyHistogram;
  protected readonly words: Int32Array;
  protected methodNames: string[] | null = null;

  constructor(name: string, id: number, target: unknown, options: ResolvedServiceOptions) {
    this.name = name;
    this.id = id;
    this.target = target;
    this.options = options;
    this.control = createControlBlock(options.instances);
    this.words = new Int32Array(this.control);
    this.histogram = new LatencyHistogram(this.words, histogramBase(options.instances));
    this.rings = [];
    for (let i = 0; i < options.instances; i++) this.rings.push(SharedRing.create({ capacity: options.ringCapacity, multiProducer: true }));
  }

  get placement(): 'local' | 'worker' {
    return this.options.placement;
  }

  get state(): ServiceStateName {
    let code = Atomics.load(this.words, C_STATE);
    if (code === ServiceState.restarting && this.allInstancesServing()) {
      // The restarted host serves already (its 'ready' message may still be on its way).
      Atomics.compareExchange(this.words, C_STATE, ServiceState.restarting, ServiceState.running);
      code = Atomics.load(this.words, C_STATE);
    }
    return STATE_NAMES[code] ?? 'stopped';
  }

  private allInstancesServing(): boolean {
    for (let i = 0; i < this.options.instances; i++) {
      const base = instanceBase(i);
      if (Atomics.load(this.words, base + I_READY) !== Atomics.load(this.words, base + I_EPOCH)) return false;
    }
    return true;
  }

  protected setState(state: ServiceStateName): void {
    Atomics.store(this.words, C_STATE, ServiceState[state]);
    this.wakeQueueWaiters();
  }

  get requests(): number {
    return Atomics.load(this.words, C_REQUESTS) >>> 0;
  }

  get errors(): number {
    return Atomics.load(this.words, C_ERRORS) >>> 0;
  }

  get restarts(): number {
    return Atomics.load(this.words, C_RESTARTS);
  }

  get methods(): readonly string[] | null {
    return this.methodNames;
  }

  /** Counts requests and errors of calls that did not go through a host (local calls). */
  countRequest(failed: boolean): void {
    Atomics.add(this.words, C_REQUESTS, 1);
    if (failed) Atomics.add(this.words, C_ERRORS, 1);
  }

  /** The oldest instance heartbeat (ms since the epoch), 0 if an instance never beat. */
  get lastHeartbeat(): number {
    let oldest = Infinity;
    for (const ring of this.rings) oldest = Math.min(oldest, ring.lastHeartbeat);
    return oldest === Infinity ? 0 : oldest;
  }

  descriptor(): ServiceDescriptor {
    return {
      name: this.name,
      id: this.id,
      placement: this.options.placement,
      instances: this.options.instances,
      control: this.control,
      rings: this.rings.map((ring) => ring.buffer),
      requestQueueSize: this.options.requestQueueSize,
      whenFull: this.options.whenFull,
      timeoutMs: this.options.timeoutMs,
      methods: this.methodNames,
    };
  }

  status(inFlight: number): ServiceStatus {
    const words = this.words;
    let queued = 0;
    for (let i = 0; i < this.options.instances; i++) queued += queuedOf(words, i);
    return {
      name: this.name,
      placement: this.options.placement,
      state: this.state,
      instances: this.options.instances,
      requests: this.requests,
      errors: this.errors,
      expired: Atomics.load(words, C_EXPIRED) >>> 0,
      stale: (Atomics.load(words, C_STALE) >>> 0) + (Atomics.load(words, C_ORPHANED) >>> 0),
      restarts: this.restarts,
      hung: Atomics.load(words, C_HUNG),
      inFlight,
      queued,
      latency: { p50: this.histogram.percentile(50), p99: this.histogram.percentile(99), samples: this.histogram.count },
      lastHeartbeat: this.lastHeartbeat,
    };
  }

  /** Tells busy hosts that control messages wait on their ports, and wakes parked ones. */
  protected signalControl(): void {
    Atomics.add(this.words, C_CONTROL, 1);
    this.wakeHosts();
  }

  /** Wakes the hosts, whatever they wait for (after the request rings were closed). */
  protected wakeHosts(): void {
    for (let i = 0; i < this.options.instances; i++) wakeAll(bellAt(this.words, instanceBase(i) + I_HOST_BELL));
  }

  /** Wakes callers parked for queue room (they re-check the state: a failed service fails them). */
  wakeQueueWaiters(): void {
    for (let i = 0; i < this.options.instances; i++) wake(queueSpot(this.words, i));
  }

  /**
   * The manager is stopping and waits for the calls in flight: from now on an instance that stops
   * beating is ended (its calls failed) rather than waited for, and nothing restarts.
   */
  beginDrain(): void {}

  /** Prepare what serving needs (import and make the instance, make host clients). */
  abstract setup(runtime: TaskRuntime): Promise<void>;
  /** Begin serving; resolves when every instance is ready. */
  abstract start(): Promise<void>;
  /** Stop taking requests, answer what is queued, end the hosts (forcibly after `graceMs`). */
  abstract stop(graceMs: number): Promise<void>;
  /** Release what setup made. */
  abstract cleanup(): Promise<void>;
  /** Make a caller thread's reply ring known to every host; resolves when they all hold it. */
  abstract addReplyRing(id: number, buffer: SharedArrayBuffer, bell: SharedArrayBuffer): Promise<void>;
  abstract removeReplyRing(id: number): Promise<void>;
}
