import { performance } from 'node:perf_hooks';
import { setImmediate as immediate } from 'node:timers/promises';
import { isMainThread } from 'node:worker_threads';
import {
  ServiceResponseReader,
  type ErrorInfo,
  type ServiceRequestNames,
} from '../codec/index.js';
import { stampServiceRequest } from '../codec/service-request.js';
import { checkUint32 } from '../codec/int64.js';
import { InvalidArgumentError } from '../errors.js';
import { RingClosedError, type FrameHandler, type SharedRing } from '../ring/index.js';
import {
  BlockingOnMainThreadError,
  ServiceError,
  ServiceQueueFullError,
  ServiceUnavailableError,
  TimeoutError,
  UnknownMethodError,
  UnserializableValueError,
} from './errors.js';
import { validateCallOptions, type CallOptions } from './options.js';
import { AdaptiveSpin, parkOnce, parkOnceAsync, SpinThenParkStrategy, wake, type ParkingSpot, type WaitStrategy } from '../sync/index.js';
import { PendingTable, type PendingCall } from './pending.js';
import { bellAt, G_DROPPED_RESPONSES, INSTANCE_DOWN_FRAME, RESPONSE_FRAME, type ServiceDescriptor } from './protocol.js';
import { RemoteService } from './remote-service.js';
import { PayloadDecoder, PayloadEncoder } from './value-codec.js';

export interface CallerOptions {
  /** How long to spin for a response before parking (µs). */
  spinMicros: number;
  /** callSync may block the main thread. */
  allowBlocking: boolean;
}

/** Why an instance went down (payload of an INSTANCE_DOWN frame). */
export const DownReason = { crashed: 1, failed: 2, stopped: 3, hung: 4 } as const;

/** Name of the error record a host sends for a method the service does not have. */
export const UNKNOWN_METHOD_MARK = 'ringflow:UnknownMethodError';
/** Name of the error record a host sends for a request whose deadline passed before it ran. */
export const EXPIRED_MARK = 'ringflow:TimeoutError';
/** Prefix of the error record a host sends for an error marked `forwardAsIs`: the rest is its class. */
export const FORWARDED_MARK = 'ringflow:forwarded:';

/** performance.timeOrigin, read once (it is a getter). Deadlines on the wire are timeOrigin-based ms. */
const TIME_ORIGIN = performance.timeOrigin;
const sharedEncoder = new PayloadEncoder();
const decoder = new PayloadDecoder();
/**
 * Responses the pump settles before it lets their callers' code run. The code a settled call
 * resumes usually sends the next call: settling a few dozen at a time keeps requests flowing to
 * the host while the rest of the answers wait in the ring, where draining them all first starved
 * the host (it ran dry, parked, and every burst then paid a wake-up).
 */
const PUMP_BATCH = 32;
/** `now` when the clock was not read for this drain: the responses it settles are not timed. */
const NO_CLOCK = -1;

/**
 * The calling side of one thread: writes requests into services' request rings, reads this
 * thread's reply ring and settles the pending calls by correlation id.
 *
 * Async calls are pipelined: a call writes its frame straight into a claimed frame of the
 * instance's request ring and returns its promise; one reader loop (the "pump") drains the
 * responses that arrived, a few dozen at a time, settles them, yields so that their awaiting code
 * runs (and can send the next calls), spins briefly while answers are due (AdaptiveSpin), and parks on the reply ring's
 * doorbell with Atomics.waitAsync when none come. Sync calls (worker threads) write, then drain
 * the ring themselves — settling any async calls whose answers arrive meanwhile — until their own
 * answer is there, spinning first and then sleeping on the doorbell with Atomics.wait.
 * Deadlines of async calls are swept by one timer (PendingTable); sync calls watch their own.
 */
export class ServiceCaller {
  readonly replyRing: SharedRing;
  readonly replyRingId: number;
  /** Where this thread parks for answers; hosts wake it after they answer into the reply ring. */
  readonly replyBell: ParkingSpot;
  /** Responses nobody waited for any more (late, after a timeout or abort), dropped. */
  droppedResponses = 0;
  private readonly global: Int32Array;
  private readonly services = new Map<string, RemoteService>();
  private readonly byId = new Map<number, RemoteService>();
  private readonly pending: PendingTable;
  private readonly responses: ServiceResponseReader;
  private readonly spinner: AdaptiveSpin;
  /** How calls wait for room in a full request queue (see RemoteService.admitSync/admitAsync). */
  private readonly queueWaits: WaitStrategy;
  private readonly hasReply = (): boolean => this.replyRing.hasFrame();
  private readonly hasReplyOrEnd = (): boolean => this.replyRing.hasFrame() || this.replyRing.drained;
  private readonly allowBlocking: boolean;
  private pumping = false;
  /** Sync calls answered after a spin (one in 8 is timed, see callSync). */
  private syncCalls = 0;
  private closed = false;
  private now = 0;

  constructor(replyRing: SharedRing, replyRingId: number, replyBell: SharedArrayBuffer, global: SharedArrayBuffer, options: CallerOptions) {
    this.replyRing = replyRing;
    this.replyRingId = replyRingId;
    this.replyBell = bellAt(new Int32Array(replyBell), 0);
    this.responses = new ServiceResponseReader(replyRing.data);
    checkUint32(replyRingId, 'replyRingId'); // once: every request carries it unchecked
    this.global = new Int32Array(global);
    // A caller never spins less than a fast service's round trip (about 10 µs): a failed spin of
    // that length costs little, and a caller that stopped spinning would never learn it pays again.
    this.spinner = new AdaptiveSpin(options.spinMicros, 20);
    // Blocking waits spin as long as a call spins for its answer; async ones do not spin (a
    // pipelining main thread has better to do). A park lasts 50 ms at most: room and state changes
    // wake the waiters, an abort does not, so a waiting async call notices it within that time.
    this.queueWaits = new SpinThenParkStrategy({ spinMicros: options.spinMicros, asyncSpinMicros: 0, maxParkMs: 50 });
    this.allowBlocking = options.allowBlocking;
    this.pending = new PendingTable((call) => this.settle(call, false, this.overdue(call)));
  }

  addService(descriptor: ServiceDescriptor): RemoteService {
    const service = new RemoteService(descriptor, this.queueWaits);
    this.services.set(service.name, service);
    this.byId.set(service.id, service);
    return service;
  }

  service(name: string): RemoteService | undefined {
    return this.services.get(name);
  }

  serviceNames(): string[] {
    return [...this.services.keys()];
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Calls in flight from this thread (to `serviceId`, or to all). */
  inFlight(serviceId?: number): number {
    if (serviceId === undefined) return this.pending.size;
    let n = 0;
    for (const call of this.pending.values()) if (call.serviceId === serviceId) n++;
    return n;
  }

  /** Resolves when no call from this thread is in flight. */
  whenIdle(): Promise<void> {
    return this.pending.whenEmpty();
  }

  // ------------------------------------------------------------------ async calls

  call(service: RemoteService, method: string, args: readonly unknown[], options?: CallOptions): Promise<unknown> {
    try {
      const encoder = PayloadEncoder.forUse(sharedEncoder);
      const call = this.begin(service, method, args, options, encoder);
      const names = service.requestNames(method);
      const length = names.requestSize(encoder.byteLength);
      const instance = call.instance;
      if (service.tryAdmit(instance)) {
        const epoch = service.epoch(instance);
        let offset: number;
        try {
          offset = service.rings[instance]!.tryClaim(epoch, length);
        } catch (error) {
          service.release(instance);
          throw claimError(service, error);
        }
        if (offset >= 0) {
          this.send(service, offset, call, epoch, names, encoder);
          return this.register(call, options?.signal);
        }
        service.release(instance);
      }
      if (service.whenFull === 'fail') throw new ServiceQueueFullError(service.name, service.queueLimit);
      const payload = new Uint8Array(encoder.byteLength);
      encoder.writeInto(payload, 0);
      return this.callWhenRoom(service, call, names, payload, length, options?.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The slow path of `call`: the queue (or the ring) was full; wait for room, then write. */
  private async callWhenRoom(
    service: RemoteService,
    call: PendingCall,
    names: ServiceRequestNames,
    payload: Uint8Array,
    length: number,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const { instance, deadline } = call;
    await service.admitAsync(instance, deadline, signal);
    const ring = service.rings[instance]!;
    try {
      for (;;) {
        const epoch = service.epoch(instance);
        let offset = ring.tryClaim(epoch, length);
        if (offset < 0) {
          const remaining = deadline - performance.now();
          if (remaining <= 0) throw new TimeoutError(`no room in the request ring of service '${service.name}' before the call's deadline`);
          offset = await ring.claimAsync(epoch, length, remaining === Infinity ? undefined : remaining);
          if (service.epoch(instance) !== epoch) {
            ring.abort(offset); // the instance restarted meanwhile: its new host would drop this frame
            continue;
          }
          if (signal?.aborted) {
            ring.abort(offset);
            throw signal.reason;
          }
        }
        this.send(service, offset, call, epoch, names, payload);
        break;
      }
    } catch (error) {
      service.release(instance);
      throw claimError(service, error);
    }
    return this.register(call, signal);
  }

  /** Gives an async call its promise (and its abort listener) and has the pump wait for its answer. */
  private register(call: PendingCall, signal: AbortSignal | undefined): Promise<unknown> {
    const promise = new Promise<unknown>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    if (signal !== undefined) {
      const onAbort = () => {
        if (this.pending.take(call.id) === call) this.settle(call, false, signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      call.cleanup = () => signal.removeEventListener('abort', onAbort);
    }
    this.pending.add(call);
    if (!this.pumping) {
      this.pumping = true;
      void this.pump();
    }
    return promise;
  }

  private async pump(): Promise<void> {
    // Let the code that made this call go on (and make more calls) before reading.
    await null;
    const ring = this.replyRing;
    let lastMacrotask = performance.now();
    try {
      while (this.pending.asyncPending > 0 && !this.closed) {
        this.now = performance.now();
        const n = ring.drain(this.onFrame, PUMP_BATCH);
        if (n > 0) {
          // Let the settled calls' code run; a few turns, so that code a few awaits deep runs
          // too (and sends its next call) before this loop spins again.
          if (this.now - lastMacrotask > 4) {
            await immediate();
            lastMacrotask = performance.now();
          } else {
            for (let i = 0; i < 4; i++) await null;
          }
          continue;
        }
        if (this.spinner.spin(this.hasReply)) continue;
        if (ring.drained) break;
        const parkedAt = performance.now();
        await parkOnceAsync(this.hasReplyOrEnd, this.replyBell, 1000);
        lastMacrotask = performance.now();
        if (ring.hasFrame()) this.spinner.parked(lastMacrotask - parkedAt);
      }
    } catch (error) {
      this.failAll(error);
    } finally {
      this.pumping = false;
    }
    if (this.pending.asyncPending > 0 && !this.closed) {
      if (this.replyRing.drained) this.failAll(new ServiceUnavailableError('*', 'the reply ring was closed'));
      else {
        this.pumping = true;
        void this.pump();
      }
    }
  }

  // ------------------------------------------------------------------ sync calls

  callSync(service: RemoteService, method: string, args: readonly unknown[], options?: CallOptions): unknown {
    if (isMainThread && !this.allowBlocking) throw new BlockingOnMainThreadError(`callSync('${service.name}', '${String(method)}')`);
    const encoder = PayloadEncoder.forUse(sharedEncoder);
    const call = this.begin(service, method, args, options, encoder);
    const names = service.requestNames(method);
    const length = names.requestSize(encoder.byteLength);
    const { instance, deadline } = call;
    const ring = service.rings[instance]!;
    if (!service.tryAdmit(instance)) {
      if (service.whenFull === 'fail') throw new ServiceQueueFullError(service.name, service.queueLimit);
      service.admitSync(instance, deadline);
    }
    let epoch: number;
    let offset: number;
    try {
      for (;;) {
        epoch = service.epoch(instance);
        offset = ring.tryClaim(epoch, length);
        if (offset >= 0) break;
        if (service.whenFull === 'fail') throw new ServiceQueueFullError(service.name, service.queueLimit);
        offset = service.claimSync(instance, epoch, length, deadline);
        if (service.epoch(instance) === epoch) break;
        ring.abort(offset);
      }
    } catch (error) {
      service.release(instance);
      throw claimError(service, error);
    }
    this.send(service, offset, call, epoch, names, encoder);
    this.pending.add(call);
    const replies = this.replyRing;
    for (;;) {
      // Wait for a frame first (the answer is a round trip away). A clock read is ~0.1 µs on a
      // VM, a few % of a sync call: after a spin it is taken for one call in 8 (the latency
      // histogram samples those) and when the call is not answered yet (its deadline). Only
      // drain() settles calls, so `done` is checked after it.
      if (this.spinner.spin(this.hasReply)) {
        this.now = (++this.syncCalls & 7) === 0 ? performance.now() : NO_CLOCK;
      } else {
        const parkedAt = performance.now();
        if (parkedAt >= deadline && this.pending.take(call.id) === call) throw this.overdue(call);
        if (replies.drained) {
          this.pending.take(call.id);
          throw new ServiceUnavailableError(service.name, 'the reply ring was closed');
        }
        parkOnce(this.hasReplyOrEnd, this.replyBell, Math.min(deadline - parkedAt, 100));
        if (!replies.hasFrame()) continue;
        this.now = performance.now();
        this.spinner.parked(this.now - parkedAt);
      }
      replies.drain(this.onFrame);
      if (call.done) break;
      if (this.now === NO_CLOCK) this.now = performance.now();
      if (this.now >= deadline && this.pending.take(call.id) === call) throw this.overdue(call);
    }
    if (call.failed) throw call.value;
    return call.value;
  }

  // ------------------------------------------------------------------ responses

  private readonly onFrame: FrameHandler = (type, data, offset) => {
    if (type === RESPONSE_FRAME) this.onResponse(data, offset);
    else if (type === INSTANCE_DOWN_FRAME) this.onInstanceDown(data, offset);
  };

  private onResponse(data: Uint8Array, offset: number): void {
    const response = this.responses.read(offset);
    const call = this.pending.take(response.id);
    if (call === undefined) {
      this.droppedResponses++;
      Atomics.add(this.global, G_DROPPED_RESPONSES, 1);
      return;
    }
    if (response.ok) {
      let value: unknown;
      try {
        const start = response.resultOffset;
        const length = response.resultLength;
        value = length === 0 ? undefined : decoder.decode(data, start, start + length);
      } catch (error) {
        this.settle(call, false, error);
        return;
      }
      if (this.now !== NO_CLOCK) call.histogram.record((this.now - call.startedAt) * 1000);
      this.settle(call, true, value);
    } else {
      const info = response.error() ?? { code: '', name: 'Error', message: 'the service failed without an error record', stack: '' };
      this.settle(call, false, remoteError(call, info));
    }
  }

  /**
   * Writes `call`'s request into the frame claimed at `offset` of its instance's ring (giving the
   * call its correlation id and the epoch it was sent in), publishes it and rings the host's bell.
   */
  private send(service: RemoteService, offset: number, call: PendingCall, epoch: number, names: ServiceRequestNames, args: PayloadEncoder | Uint8Array): void {
    const id = this.replyRing.nextCorrelationId();
    call.id = id;
    call.epoch = epoch;
    const deadline = call.deadline === Infinity ? 0 : TIME_ORIGIN + call.deadline;
    const instance = call.instance;
    const ring = service.rings[instance]!;
    // Straight into the frame: the ring's region is checked once (RemoteService), the frame is
    // 8-aligned and sized by names.requestSize, the id is a uint32 (nextCorrelationId).
    const region = service.regions[instance]!;
    stampServiceRequest(region, region.byteOffset + offset, names, id, deadline, this.replyRingId, args, args instanceof Uint8Array ? args.length : args.byteLength);
    ring.commit(offset);
    wake(service.bells[call.instance]!);
  }

  private onInstanceDown(data: Uint8Array, offset: number): void {
    const serviceId = readInt32(data, offset);
    const instance = readInt32(data, offset + 4);
    const epoch = readInt32(data, offset + 8);
    const reason = readInt32(data, offset + 12);
    const service = this.byId.get(serviceId);
    const calls = this.pending.takeWhere((c) => c.serviceId === serviceId && (instance < 0 || (c.instance === instance && c.epoch <= epoch)));
    const why =
      reason === DownReason.crashed
        ? `its worker (instance ${instance}) crashed while the call was in flight`
        : reason === DownReason.hung
          ? `its worker (instance ${instance}) hung (its heartbeat stopped while a call to it was overdue) and was replaced while the call was in flight`
        : reason === DownReason.failed
          ? 'it failed (its worker crashed more often than maxRestarts allows)'
          : 'it stopped';
    for (const call of calls) this.settle(call, false, new ServiceUnavailableError(service?.name ?? call.service, why));
  }

  /** A call past its deadline: tells the instance's watchers (a hang sign), returns its TimeoutError. */
  private overdue(call: PendingCall): TimeoutError {
    this.byId.get(call.serviceId)?.markOverdue(call.instance);
    return timeoutError(call);
  }

  private settle(call: PendingCall, ok: boolean, value: unknown): void {
    if (call.cleanup !== null) {
      call.cleanup();
      call.cleanup = null;
    }
    if (call.resolve !== null) {
      if (ok) call.resolve(value);
      else call.reject!(value);
    } else {
      call.done = true;
      call.failed = !ok;
      call.value = value;
    }
  }

  // ------------------------------------------------------------------ teardown

  /** Fails the calls in flight to `serviceId` (all services when omitted). */
  failCalls(error: (call: PendingCall) => unknown, serviceId?: number): void {
    for (const call of this.pending.takeWhere((c) => serviceId === undefined || c.serviceId === serviceId)) this.settle(call, false, error(call));
  }

  private failAll(error: unknown): void {
    this.failCalls(() => error);
  }

  /** Fails what is in flight and refuses new calls. The reply ring stays (its owner closes it). */
  close(reason = 'this client is closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.failCalls((call) => new ServiceUnavailableError(call.service, reason));
    this.pending.dispose();
  }

  /**
   * What every call does before it claims a frame: checks its options, the client and the method,
   * encodes its arguments into `encoder`, sets its deadline and picks the instance. Returns the
   * call's record; its id and epoch are set when its request is sent.
   */
  private begin(service: RemoteService, method: string, args: readonly unknown[], options: CallOptions | undefined, encoder: PayloadEncoder): PendingCall {
    const timeoutMs = options === undefined ? service.timeoutMs : this.checkOptions(options, service);
    if (options?.signal?.aborted) throw options.signal.reason;
    if (this.closed) throw new ServiceUnavailableError(service.name, 'this client is closed');
    checkArgs(args);
    service.check(method);
    prepareArgs(encoder, args, service, method);
    const startedAt = performance.now();
    return {
      id: 0,
      serviceId: service.id,
      service: service.name,
      method,
      histogram: service.histogram,
      instance: service.pick(),
      epoch: 0,
      deadline: timeoutMs === Infinity ? Infinity : startedAt + timeoutMs,
      startedAt,
      resolve: null,
      reject: null,
      done: false,
      failed: false,
      value: undefined,
      cleanup: null,
    };
  }

  private checkOptions(options: CallOptions, service: RemoteService): number {
    validateCallOptions(options);
    return options.timeoutMs ?? service.timeoutMs;
  }
}

/** Plans the encoding of a call's arguments; a refusal names the call. */
function prepareArgs(encoder: PayloadEncoder, args: readonly unknown[], service: RemoteService, method: string): void {
  try {
    encoder.prepare(args);
  } catch (error) {
    if (error instanceof UnserializableValueError) throw new UnserializableValueError(`the arguments of ${service.name}.${method}`, error.cause);
    throw error;
  }
}

function checkArgs(args: readonly unknown[]): void {
  if (!Array.isArray(args)) throw new InvalidArgumentError(`a call's arguments must be an array, got ${args === null ? 'null' : typeof args}`);
}

function claimError(service: RemoteService, error: unknown): unknown {
  if (error instanceof RingClosedError) return service.unavailable();
  return error;
}

function timeoutError(call: PendingCall): TimeoutError {
  const ms = Math.round(call.deadline - call.startedAt);
  return new TimeoutError(`call ${call.service}.${call.method} got no answer within ${ms} ms`);
}

function remoteError(call: PendingCall, info: ErrorInfo): Error {
  if (info.name === UNKNOWN_METHOD_MARK) return new UnknownMethodError(call.service, call.method);
  if (info.name === EXPIRED_MARK) return timeoutError(call);
  if (info.name.startsWith(FORWARDED_MARK)) {
    const kind = info.name.slice(FORWARDED_MARK.length);
    if (kind === 'TimeoutError') return new TimeoutError(info.message);
    if (kind === 'ServiceUnavailableError') return new ServiceUnavailableError(call.service, info.message);
    if (kind === 'UnknownMethodError') return new UnknownMethodError(call.service, call.method);
  }
  return new ServiceError(call.service, call.method, info);
}

function readInt32(data: Uint8Array, at: number): number {
  return data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
}
