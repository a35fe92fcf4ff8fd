import { performance } from 'node:perf_hooks';
import { setImmediate as immediate } from 'node:timers/promises';
import {
  encodeServiceResponse,
  ServiceRequestReader,
  serviceResponseSize,
  writeServiceResponse,
} from '../codec/index.js';
import { wholeRegion, type Region } from '../codec/memory.js';
import { stampServiceResponse } from '../codec/service-response.js';
import { FrameTooLargeError, RingClosedError, SharedRing, type FrameHandler } from '../ring/index.js';
import { EXPIRED_MARK, FORWARDED_MARK, UNKNOWN_METHOD_MARK } from './caller.js';
import { InvalidArgumentError, isForwarded, ServiceError, ServiceUnavailableError, thrownAsError, UnserializableValueError } from './errors.js';
import { AdaptiveSpin, parkOnce, parkOnceAsync, wake, type ParkingSpot } from '../sync/index.js';
import type { MethodTable } from './methods.js';
import { bellAt, C_CONTROL, C_ERRORS, C_EXPIRED, C_ORPHANED, C_REQUESTS, C_STALE, I_READY, I_TAKEN, instanceBase, queueSpot, RESPONSE_FRAME } from './protocol.js';
import { PayloadDecoder, PayloadEncoder } from './value-codec.js';

/** The reply rings a host can answer into, by id, each with its reader's doorbell. */
export class ReplyRings {
  private readonly rings: (SharedRing | undefined)[] = [];
  private readonly bells: (ParkingSpot | undefined)[] = [];
  /** Each ring's data as a codec region, checked once (answers are stamped into it). */
  private readonly regions: (Region | undefined)[] = [];

  add(id: number, ring: SharedRing | SharedArrayBuffer, bell: SharedArrayBuffer): void {
    const attached = ring instanceof SharedRing ? ring : SharedRing.attach(ring);
    this.rings[id] = attached;
    this.bells[id] = bellAt(new Int32Array(bell), 0);
    this.regions[id] = wholeRegion(attached.data);
  }

  remove(id: number): void {
    this.rings[id] = undefined;
    this.bells[id] = undefined;
    this.regions[id] = undefined;
  }

  region(id: number): Region | undefined {
    return this.regions[id];
  }

  get(id: number): SharedRing | undefined {
    return this.rings[id];
  }

  bell(id: number): ParkingSpot | undefined {
    return this.bells[id];
  }
}

export interface ServiceHostOptions {
  name: string;
  instance: number;
  /** Request frames of another epoch are dropped (they predate a restart). */
  epoch: number;
  ring: SharedRing;
  control: Int32Array;
  /** This instance's doorbell (protocol.ts bellAt): callers wake it after writing a request. */
  bell: ParkingSpot;
  target: object;
  methods: MethodTable;
  replyRings: ReplyRings;
  /** How long to spin for the next request before parking (µs). 0 parks at once. */
  spinMicros: number;
  /**
   * Park with a blocking Atomics.wait (in slices of `blockingSliceMs`, turning the event loop
   * between them) rather than Atomics.waitAsync: a futex wake-up is tens of µs quicker. Only on a
   * thread of its own (a pool worker), never on the main thread.
   */
  blocking?: boolean;
}

/** Longest blocking park before the event loop gets a turn (timers, control messages). */
const BLOCKING_SLICE_MS = 5;
/**
 * Under steady load the loop turns the event loop (a macrotask: tens of µs) at least this often,
 * for the service's own timers and I/O; control messages and async methods get a turn sooner.
 */
const MACROTASK_EVERY_MS = 20;
/**
 * Threads' clocks (performance.timeOrigin + now()) may disagree by a little: a host drops a request
 * as expired only this long after its deadline, so that it never fails a call before the caller's
 * own deadline does (dropping is there to save work, the caller's timer is what fails the call).
 */
const DEADLINE_SKEW_MS = 2;

/** performance.timeOrigin, read once (it is a getter). Deadlines on the wire are timeOrigin-based ms. */
const TIME_ORIGIN = performance.timeOrigin;
/**
 * Requests decoded (and released) before the methods run and the answers go out. Small, so that
 * answers stream back while a pipelining caller is still sending: with a batch of hundreds the
 * caller saw nothing for the ~100 µs the decoding took, stopped spinning and parked, and the host
 * then ran dry and parked too (each waking the other at tens of µs a time).
 */
const BATCH = 32;
const KIND_CALL = 0;
const KIND_UNKNOWN = 1;
const KIND_BAD_ARGS = 2;
const NO_ARGS: readonly unknown[] = Object.freeze([]);
const encoderShared = new PayloadEncoder();
const decoder = new PayloadDecoder();

/**
 * The serving loop of one service instance: drains its request ring in batches, runs each
 * request's method on the instance and writes the response into the caller's reply ring.
 *
 * A batch is first decoded (arguments copied out of the ring) and its frames released; the
 * methods run after that, so a method that crashes the thread leaves no frame half-consumed.
 * Between batches the loop spins (up to `spinMicros`, adaptively: under steady load the next
 * request is caught there), then parks on its doorbell: in a pool worker with a blocking
 * Atomics.wait in 5 ms slices, turning the event loop between slices and whenever the manager
 * signals a control message; on the main thread (or while async methods run) with
 * Atomics.waitAsync. Under steady load the event loop still gets a turn every 20 ms (2 ms while
 * async methods run). Methods that return a promise are answered when it settles, without holding
 * up the loop. Closing the request ring ends the loop once the ring is drained and every answer
 * is written.
 */
export class ServiceHost {
  readonly name: string;
  private readonly ring: SharedRing;
  private readonly control: Int32Array;
  private readonly target: object;
  private readonly methods: MethodTable;
  private readonly replyRings: ReplyRings;
  private readonly epoch: number;
  private readonly spinner: AdaptiveSpin;
  private readonly bell: ParkingSpot;
  private readonly blocking: boolean;
  private readonly hasRequest = (): boolean => this.ring.hasFrame();
  private readonly hasWork = (): boolean => this.ring.hasFrame() || this.ring.drained;
  private readonly takenIndex: number;
  private readonly readyIndex: number;
  /** Where callers wait for room in this instance's queue. */
  private readonly queueSpot: ParkingSpot;
  private readonly requests: ServiceRequestReader;
  // The batch being decoded, column-wise.
  private readonly kinds = new Int32Array(BATCH);
  private readonly ids = new Uint32Array(BATCH);
  private readonly replies = new Int32Array(BATCH);
  private readonly deadlines = new Float64Array(BATCH);
  private readonly methodIndexes = new Int32Array(BATCH);
  private readonly args: unknown[] = new Array(BATCH).fill(undefined);
  private count = 0;
  private taken = 0;
  private stale = 0;
  private orphaned = 0;
  private wallNow = 0;
  private outstanding = 0;
  private drainedOutstanding: (() => void) | null = null;
  private controlSeen = 0;

  constructor(options: ServiceHostOptions) {
    this.name = options.name;
    this.ring = options.ring;
    this.control = options.control;
    this.target = options.target;
    this.methods = options.methods;
    this.replyRings = options.replyRings;
    this.epoch = options.epoch;
    // A host is a thread of its own: it keeps spinning at least a quarter of its budget, so that
    // a caller with some work between calls still finds it awake.
    this.spinner = new AdaptiveSpin(options.spinMicros, options.spinMicros / 4);
    this.bell = options.bell;
    this.requests = new ServiceRequestReader(options.ring.data);
    this.blocking = options.blocking === true;
    const base = instanceBase(options.instance);
    this.takenIndex = base + I_TAKEN;
    this.readyIndex = base + I_READY;
    this.queueSpot = queueSpot(options.control, options.instance);
  }

  /** Serves until the request ring is closed and drained, and every answer is written. */
  async run(): Promise<void> {
    const ring = this.ring;
    Atomics.store(this.control, this.readyIndex, this.epoch);
    ring.beat();
    let now = performance.now();
    let lastBeat = now;
    let lastMacrotask = now;
    for (;;) {
      // The clock was read after the last batch or park, or before the spin that caught this
      // request: at most a spin (spinMicros) old, well within the deadline skew allowance. Not
      // reading it here keeps a clock read (~0.1 µs) off every call's critical path; the
      // requests after the first of a batch read it afresh (runBatch).
      this.wallNow = TIME_ORIGIN + now;
      const n = ring.drain(this.onFrame, BATCH);
      if (n > 0) {
        this.runBatch();
        // Bookkeeping after the answers are out, off the callers' critical path.
        this.afterDrain();
        now = performance.now();
        if (now - lastBeat > 50) {
          ring.beat();
          lastBeat = now;
        }
        const control = Atomics.load(this.control, C_CONTROL);
        if (control !== this.controlSeen || now - lastMacrotask > (this.outstanding > 0 ? 2 : MACROTASK_EVERY_MS)) {
          this.controlSeen = control;
          await immediate(); // the event loop's turn: control messages, timers, I/O
          now = lastMacrotask = performance.now();
        } else if (this.outstanding > 0) {
          await null; // async methods' continuations
        }
        continue;
      }
      if (ring.drained) break;
      if (this.spinner.spin(this.hasRequest)) continue;
      // Park. The beat before each park (and each slice, or second, of it) is the liveness signal.
      ring.beat();
      const parkedAt = performance.now();
      if (this.blocking && this.outstanding === 0) {
        // A futex sleep, in slices; when a slice ends with nothing to do (a timeout, or the
        // manager woke it for a control message), the event loop gets a turn.
        parkOnce(this.hasWork, this.bell, BLOCKING_SLICE_MS);
        if (!this.hasWork()) await immediate();
      } else {
        // Async methods are running: their continuations need the event loop.
        await parkOnceAsync(this.hasWork, this.bell, this.outstanding > 0 ? BLOCKING_SLICE_MS : 1000);
      }
      now = lastMacrotask = lastBeat = performance.now();
      if (this.hasRequest()) this.spinner.parked(now - parkedAt);
    }
    if (this.outstanding > 0) await new Promise<void>((resolve) => (this.drainedOutstanding = resolve));
  }

  private readonly onFrame: FrameHandler = (type, data, offset) => {
    this.taken++;
    if (type !== this.epoch) {
      this.stale++;
      return;
    }
    const k = this.count;
    let request: ServiceRequestReader;
    try {
      request = this.requests.read(offset);
    } catch {
      this.orphaned++; // a malformed frame: nobody to answer
      return;
    }
    if (this.replyRings.get(request.replyRing) === undefined) {
      this.orphaned++;
      return;
    }
    this.count = k + 1;
    this.ids[k] = request.id;
    this.replies[k] = request.replyRing;
    this.deadlines[k] = request.deadline;
    const method = request.method; // (a cached string: the codec keeps recent short names)
    const index = this.methods.findName(method);
    this.methodIndexes[k] = index;
    if (index < 0) {
      this.kinds[k] = KIND_UNKNOWN;
      this.args[k] = method;
      return;
    }
    try {
      const start = request.argsOffset;
      const length = request.argsLength;
      const args = length === 0 ? NO_ARGS : decoder.decode(data, start, start + length);
      if (Array.isArray(args)) {
        this.kinds[k] = KIND_CALL;
        this.args[k] = args;
      } else {
        this.kinds[k] = KIND_BAD_ARGS;
        this.args[k] = new InvalidArgumentError('the request arguments are not an array');
      }
    } catch (error) {
      this.kinds[k] = KIND_BAD_ARGS;
      this.args[k] = error;
    }
  };

  /** Frames taken and run: give their queue places back, wake callers waiting for room, count drops. */
  private afterDrain(): void {
    const control = this.control;
    Atomics.add(control, this.takenIndex, this.taken);
    this.taken = 0;
    wake(this.queueSpot);
    if (this.stale > 0) {
      Atomics.add(control, C_STALE, this.stale);
      this.stale = 0;
    }
    if (this.orphaned > 0) {
      Atomics.add(control, C_ORPHANED, this.orphaned);
      this.orphaned = 0;
    }
  }

  private runBatch(): void {
    const n = this.count;
    this.count = 0;
    if (n === 0) return;
    const target = this.target;
    const control = this.control;
    // Counted before the answers go out, so a caller that got its answer sees it counted.
    Atomics.add(control, C_REQUESTS, n);
    for (let k = 0; k < n; k++) {
      const id = this.ids[k]!;
      const reply = this.replies[k]!;
      const args = this.args[k];
      this.args[k] = undefined;
      const kind = this.kinds[k];
      const deadline = this.deadlines[k]!;
      if (deadline !== 0) {
        // The first of a batch was checked against the time it was read; later ones ran after others.
        if (k > 0) this.wallNow = TIME_ORIGIN + performance.now();
        if (deadline + DEADLINE_SKEW_MS < this.wallNow) {
          Atomics.sub(control, C_REQUESTS, 1);
          Atomics.add(control, C_EXPIRED, 1);
          this.respondError(reply, id, marked(EXPIRED_MARK, 'ERR_TIMEOUT', 'the deadline passed before the request ran'));
          continue;
        }
      }
      if (kind === KIND_UNKNOWN) {
        Atomics.add(control, C_ERRORS, 1);
        this.respondError(reply, id, marked(UNKNOWN_METHOD_MARK, 'ERR_UNKNOWN_METHOD', `service '${this.name}' has no method '${String(args)}'`));
        continue;
      }
      if (kind === KIND_BAD_ARGS) {
        Atomics.add(control, C_ERRORS, 1);
        this.respondError(reply, id, args);
        continue;
      }
      const index = this.methodIndexes[k]!;
      let result: unknown;
      try {
        result = this.methods.fn(index).apply(target, args as unknown[]);
      } catch (error) {
        Atomics.add(control, C_ERRORS, 1);
        this.respondError(reply, id, error);
        continue;
      }
      if (isThenable(result)) this.answerLater(reply, id, index, result);
      else this.respondOk(reply, id, index, result);
    }
  }

  private answerLater(reply: number, id: number, index: number, result: PromiseLike<unknown>): void {
    this.outstanding++;
    result.then(
      (value) => {
        this.respondOk(reply, id, index, value);
        this.settledOne();
      },
      (error: unknown) => {
        Atomics.add(this.control, C_ERRORS, 1);
        this.respondError(reply, id, error);
        this.settledOne();
      },
    );
  }

  private settledOne(): void {
    if (--this.outstanding === 0 && this.drainedOutstanding !== null) {
      this.drainedOutstanding();
      this.drainedOutstanding = null;
    }
  }

  private respondOk(reply: number, id: number, index: number, value: unknown): void {
    const ring = this.replyRings.get(reply);
    if (ring === undefined) return;
    const encoder = PayloadEncoder.forUse(encoderShared);
    let length: number;
    try {
      length = value === undefined ? 0 : encoder.prepare(value); // no bytes: undefined
    } catch (error) {
      Atomics.add(this.control, C_ERRORS, 1);
      const named = error instanceof UnserializableValueError ? new UnserializableValueError(`the result of ${this.name}.${this.methods.name(index)}`, error.cause) : error;
      this.respondError(reply, id, named);
      return;
    }
    const result = length === 0 ? NO_BYTES : encoder;
    const frameLength = serviceResponseSize(length);
    let offset: number;
    try {
      offset = ring.tryClaim(RESPONSE_FRAME, frameLength);
    } catch (error) {
      if (error instanceof FrameTooLargeError) {
        Atomics.add(this.control, C_ERRORS, 1);
        this.respondError(reply, id, error);
      }
      return; // RingClosedError: the caller is gone
    }
    if (offset >= 0) {
      // Straight into the frame: the ring's region is checked once (ReplyRings.add), the frame is
      // 8-aligned and sized by serviceResponseSize, the id came off the wire as a uint32.
      const region = this.replyRings.region(reply)!;
      stampServiceResponse(region, region.byteOffset + offset, id, result, length);
      ring.commit(offset);
      this.wakeReader(reply);
      return;
    }
    const bytes = new Uint8Array(frameLength);
    writeServiceResponse(bytes, 0, id, result);
    this.writeLater(reply, ring, bytes);
  }

  /** Wakes the reader of reply ring `reply`, if it is parked. */
  private wakeReader(reply: number): void {
    const bell = this.replyRings.bell(reply);
    if (bell !== undefined) wake(bell);
  }

  /** Answers with an error record of `thrown` (the codec keeps its code, name, message and stack). */
  private respondError(reply: number, id: number, thrown: unknown): void {
    const ring = this.replyRings.get(reply);
    if (ring === undefined) return;
    const bytes = encodeServiceResponse({ id, ok: false, error: errorRecord(thrown) });
    try {
      if (ring.tryWrite(bytes, RESPONSE_FRAME)) {
        this.wakeReader(reply);
        return;
      }
    } catch (error) {
      if (error instanceof RingClosedError) return;
      throw error;
    }
    this.writeLater(reply, ring, bytes);
  }

  /** The caller's reply ring is full: write when it has room, without stopping the loop. */
  private writeLater(reply: number, ring: SharedRing, bytes: Uint8Array): void {
    this.outstanding++;
    ring.writeAsync(bytes, RESPONSE_FRAME).then(
      () => {
        this.wakeReader(reply);
        this.settledOne();
      },
      () => this.settledOne(), // closed: the caller is gone
    );
  }
}

const NO_BYTES = new Uint8Array(0);

/**
 * What goes back for a failed call: what the method threw; a ServiceError (the method called a
 * service that failed) as the error it carries, so its code survives the hop; an error the
 * service's machinery raised (`forwardAsIs`) marked, so the caller rebuilds it as itself.
 */
function errorRecord(thrown: unknown): unknown {
  if (isForwarded(thrown)) {
    const message = thrown instanceof ServiceUnavailableError ? thrown.reason : thrown.message;
    return marked(FORWARDED_MARK + thrown.name, (thrown as Error & { code?: string }).code ?? '', message);
  }
  if (thrown instanceof ServiceError) {
    const error = new Error(thrown.remote.message);
    error.name = thrown.remote.name;
    error.stack = thrown.remote.stack;
    if (thrown.remote.code !== undefined) (error as Error & { code?: string }).code = thrown.remote.code;
    return error;
  }
  return thrownAsError(thrown);
}

/** An error record the caller recognises by its name (a protocol answer, not a method's failure). */
function marked(name: string, code: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  error.stack = '';
  (error as Error & { code?: string }).code = code;
  return error;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
