/**
 * What the threads of a ServiceManager share: frame types on the rings, the layout of each
 * service's control block, and the structured-cloneable descriptors handed to worker threads.
 *
 * Rings:
 * - one request ring per service instance (multi-producer: every calling thread writes to it;
 *   its host is the consumer). A request frame's type is the instance's epoch when the caller
 *   wrote it: a restarted host (new epoch) drops frames of the old one, whose callers have been
 *   told the instance went down.
 * - one reply ring per calling thread (multi-producer: every host answers into it). Frame types:
 *   RESPONSE_FRAME (a ServiceResponse) and INSTANCE_DOWN_FRAME (written by the manager when an
 *   instance crashed or the service failed: the reader fails its in-flight calls to it).
 *
 * Control block of a service (Int32Array over one SharedArrayBuffer, read and written by every
 * thread with Atomics). Each group sits on its own 128-byte line, so that what callers read on
 * every call (state, epoch) does not bounce between cores with what hosts count:
 * ```
 *  word   0  state              (ServiceState below)        read by every call
 *         1  restarts           crashes recovered so far
 *         2  control            bumped when control messages were posted to the hosts
 *         3  hung               instances declared hung and replaced
 *        32  requests           requests the hosts executed (counted before they answer)
 *        33  errors             of those, how many threw / were unknown methods
 *        34  expired            requests dropped unexecuted: their deadline had passed
 *        35  stale              requests dropped after a restart (their callers were failed)
 *        36  orphaned           requests dropped: the reply ring was unknown to the host
 *    32 * (2 + 2i)              instance i, what callers write and read on every call:
 *         +0  epoch             bumped at each restart; request frame type
 *         +1  admitted          places ever taken in the queue (wraps); callers add one per call
 *         +4  host doorbell     where the host parks: waiters, signal, wake pending (see bellAt)
 *         +7  ready epoch       the epoch of the host that is serving (equal to +0 once it is up)
 *         +8  overdue           calls to it that passed their deadline unanswered (a hang sign)
 *         +9  suspect           1 while its heartbeat is stalled with work queued (round-robin skips it)
 *    32 * (3 + 2i)              instance i, what its host writes:
 *         +0  taken             requests ever taken by the host (wraps); queued = admitted - taken
 *         +1  space signal      callers waiting for queue room park here
 *         +2  space waiters
 *    32 * (2 + 2 * instances)   latency histogram (see histogram.ts), written by callers
 * ```
 *
 * The queue count is two counters on two lines so that a call does not pull a line from the
 * host's core and back: callers write `admitted`, the host `taken`, and a caller reads `taken`
 * only when an older reading says the queue may be full (taken only grows, so an old reading
 * overstates what is queued).
 */
import type { MessagePort } from 'node:worker_threads';
import type { ParkingSpot } from '../sync/index.js';
import { HISTOGRAM_WORDS } from './histogram.js';

export const RESPONSE_FRAME = 0;
export const INSTANCE_DOWN_FRAME = 1;

export const ServiceState = {
  stopped: 0,
  starting: 1,
  running: 2,
  restarting: 3,
  failed: 4,
  stopping: 5,
} as const;
export type ServiceStateName = keyof typeof ServiceState;
export const STATE_NAMES: readonly ServiceStateName[] = ['stopped', 'starting', 'running', 'restarting', 'failed', 'stopping'];

const LINE_WORDS = 32;
export const C_STATE = 0;
export const C_RESTARTS = 1;
/** Bumped by the manager each time it posts control messages to the hosts (they turn their event loop). */
export const C_CONTROL = 2;
/** Instances declared hung (heartbeat stopped while a call to them was overdue) and replaced. */
export const C_HUNG = 3;
export const C_REQUESTS = LINE_WORDS;
export const C_ERRORS = LINE_WORDS + 1;
export const C_EXPIRED = LINE_WORDS + 2;
export const C_STALE = LINE_WORDS + 3;
export const C_ORPHANED = LINE_WORDS + 4;

export const instanceBase = (instance: number): number => LINE_WORDS * (2 + 2 * instance);
export const I_EPOCH = 0;
/** Places ever taken in the instance's queue (int32, wrapping); see `queuedOf`. */
export const I_ADMITTED = 1;
/** The host's doorbell (three words, see bellAt): callers wake it after writing a request. */
export const I_HOST_BELL = 4;
/** The epoch of the host serving now: it stores its epoch here before it serves its first request. */
export const I_READY = 7;
/** Calls to this instance that went past their deadline unanswered (callers on any thread add one). */
export const I_OVERDUE = 8;
/** 1 while the manager sees the instance's heartbeat stalled with work queued: calls go elsewhere if they can. */
export const I_SUSPECT = 9;
/** Requests ever taken from the ring by the instance's host (int32, wrapping); on the host's line. */
export const I_TAKEN = LINE_WORDS;
export const I_SPACE_SIGNAL = LINE_WORDS + 1;
export const I_SPACE_WAITERS = LINE_WORDS + 2;
/** Requests in instance `instance`'s ring or in its host's current batch. */
export function queuedOf(control: Int32Array, instance: number): number {
  const base = instanceBase(instance);
  return Math.max(0, (Atomics.load(control, base + I_ADMITTED) - Atomics.load(control, base + I_TAKEN)) | 0);
}
/**
 * Where callers park for room in instance `instance`'s queue (the space signal and waiters words),
 * for the sync layer's wait strategies; whoever frees places calls `wake()` on it.
 */
/**
 * A doorbell: where one consumer — a host waiting for requests, a thread waiting for answers on
 * its reply ring — parks, as a sync ParkingSpot of three words at `index`: waiters, signal, and
 * a wake-pending flag, so that a burst of writes to a parked consumer costs one Atomics.notify,
 * not one per write. Producers `wake()` it after publishing; it costs one load while nobody is
 * parked. (The ring has parking spots of its own, which these replace for services: a waiter
 * there is counted by the ring's commit on every write.)
 */
export function bellAt(words: Int32Array, index: number): ParkingSpot {
  return { words, waitersIndex: index, signalIndex: index + 1, pendingIndex: index + 2 };
}

/** A stand-alone doorbell (a reply ring's): three words, alone on a pair of cache lines. */
export function createBell(): SharedArrayBuffer {
  return new SharedArrayBuffer(128);
}

export function queueSpot(control: Int32Array, instance: number): ParkingSpot {
  const base = instanceBase(instance);
  return { words: control, waitersIndex: base + I_SPACE_WAITERS, signalIndex: base + I_SPACE_SIGNAL };
}
export const histogramBase = (instances: number): number => LINE_WORDS * (2 + 2 * instances);

export function createControlBlock(instances: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(4 * (histogramBase(instances) + HISTOGRAM_WORDS));
  const words = new Int32Array(buffer);
  for (let i = 0; i < instances; i++) words[instanceBase(i) + I_EPOCH] = 1;
  return buffer;
}

/** Manager-wide counters (one SharedArrayBuffer shared by every caller thread). */
export const G_DROPPED_RESPONSES = 0;
export const GLOBAL_WORDS = 8;

/** The part of a service that a caller on any thread needs. Structured-cloneable. */
export interface ServiceDescriptor {
  readonly name: string;
  readonly id: number;
  readonly placement: 'local' | 'worker';
  readonly instances: number;
  readonly control: SharedArrayBuffer;
  /** The request ring of each instance. */
  readonly rings: readonly SharedArrayBuffer[];
  readonly requestQueueSize: number;
  readonly whenFull: 'wait' | 'fail';
  readonly timeoutMs: number;
  /** The service's method names, once known (a worker instance reports them when ready). */
  readonly methods: readonly string[] | null;
}

/**
 * What a worker thread needs to call services: its own reply ring (already registered with every
 * host) and the descriptors. Made by `ServiceManager.clientHandle()`; pass it to the worker (in
 * workerData or a message) and open it there with `ServiceClient.connect(handle)`.
 */
export interface ServiceClientHandle {
  readonly kind: 'ringflow.services';
  readonly replyRingId: number;
  readonly replyRing: SharedArrayBuffer;
  /** The doorbell hosts wake after answering into the reply ring (see bellAt). */
  readonly replyBell: SharedArrayBuffer;
  readonly global: SharedArrayBuffer;
  readonly services: readonly ServiceDescriptor[];
  /** Blocking calls allowed on the main thread (set by the manager's option). */
  readonly allowBlockingOnMainThread?: boolean;
  /** How long a call spins for its answer before parking (µs). */
  readonly callerSpinMicros?: number;
}

export function isClientHandle(value: unknown): value is ServiceClientHandle {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as ServiceClientHandle).kind === 'ringflow.services' &&
    (value as ServiceClientHandle).replyRing instanceof SharedArrayBuffer
  );
}

/** A reply ring as hosts know it: id, ring buffer, doorbell buffer. */
export type ReplyRingEntry = readonly [number, SharedArrayBuffer, SharedArrayBuffer];

/** Messages from the manager to a worker host, over the host's control MessagePort. */
export type HostControlMessage =
  | { type: 'addReplyRing'; seq: number; id: number; buffer: SharedArrayBuffer; bell: SharedArrayBuffer }
  | { type: 'removeReplyRing'; seq: number; id: number };

/** Messages from a worker host to the manager. */
export type HostEventMessage = { type: 'ready'; methods: string[] } | { type: 'ack'; seq: number };

/** What a worker host task is started with (structured-cloned; the port is transferred). */
export interface HostTaskData {
  readonly name: string;
  readonly serviceId: number;
  readonly instance: number;
  readonly epoch: number;
  readonly module: string;
  readonly export: string;
  readonly options: unknown;
  readonly ring: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  /** [id, ring buffer, doorbell buffer] of every reply ring. */
  readonly replyRings: readonly ReplyRingEntry[];
  readonly port: MessagePort;
  /** For the instance to call services (its own included: those calls run in place). */
  readonly client: ServiceClientHandle;
  readonly spinMicros: number;
}
