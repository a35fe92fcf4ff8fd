import { performance } from 'node:perf_hooks';
import type { LatencyHistogram } from './histogram.js';

/** One call waiting for its response, on the calling thread. */
export interface PendingCall {
  /** Correlation id; set when the request is sent. */
  id: number;
  readonly serviceId: number;
  readonly service: string;
  readonly method: string;
  /** Where the caller records the call's round trip. */
  readonly histogram: LatencyHistogram;
  readonly instance: number;
  /** The instance's epoch when the request was sent. */
  epoch: number;
  /** performance.now() ms; Infinity for none. */
  readonly deadline: number;
  readonly startedAt: number;
  /** Async calls settle their promise; sync calls fill `done` / `value` / `error`. */
  resolve: ((value: unknown) => void) | null;
  reject: ((error: unknown) => void) | null;
  done: boolean;
  failed: boolean;
  value: unknown;
  /** Detaches the abort listener, if any. */
  cleanup: (() => void) | null;
}

/**
 * The calls of one thread waiting for responses, by correlation id. Deadlines of async calls are
 * swept by one timer armed for the earliest deadline (not one timer per call); sync calls watch
 * their own deadline while they wait. While async calls are pending a ref'd timer keeps the
 * thread's event loop alive (a parked Atomics.waitAsync does not).
 */
const SLOTS = 4096;
const MASK = SLOTS - 1;

export class PendingTable {
  // Correlation ids come from this thread's reply ring, one after another: a call's slot is its
  // id's low bits (an array index, not a hash). A slot still taken by an older call (a long one
  // outlived 4096 newer ones) sends the newcomer to the overflow map.
  private readonly slots: (PendingCall | undefined)[] = new Array<PendingCall | undefined>(SLOTS).fill(undefined);
  private readonly overflow = new Map<number, PendingCall>();
  private count = 0;
  private asyncCount = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepAt = Infinity;
  private keepAlive: NodeJS.Timeout | null = null;
  private emptyWaiters: (() => void)[] = [];

  constructor(private readonly onExpired: (call: PendingCall) => void) {}

  get size(): number {
    return this.count;
  }

  /** Async calls pending (sync calls wait for themselves). */
  get asyncPending(): number {
    return this.asyncCount;
  }

  add(call: PendingCall): void {
    const slot = call.id & MASK;
    if (this.slots[slot] === undefined) this.slots[slot] = call;
    else this.overflow.set(call.id, call);
    this.count++;
    if (call.resolve !== null) {
      if (this.asyncCount++ === 0) this.holdEventLoop(true);
      if (call.deadline < this.sweepAt) this.armSweep(call.deadline);
    }
  }

  get(id: number): PendingCall | undefined {
    const call = this.slots[id & MASK];
    if (call !== undefined && call.id === id) return call;
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  /** Removes and returns the call with `id`, or undefined when nobody waits for it (any more). */
  take(id: number): PendingCall | undefined {
    const slot = id & MASK;
    let call = this.slots[slot];
    if (call !== undefined && call.id === id) {
      this.slots[slot] = undefined;
    } else {
      if (this.overflow.size === 0) return undefined;
      call = this.overflow.get(id);
      if (call === undefined) return undefined;
      this.overflow.delete(id);
    }
    this.count--;
    if (call.resolve !== null && --this.asyncCount === 0) this.holdEventLoop(false);
    if (this.count === 0 && this.emptyWaiters.length > 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const resolve of waiters) resolve();
    }
    return call;
  }

  /** Resolves when no call is pending. */
  whenEmpty(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /** Removes every call that `match` selects, and returns them. */
  takeWhere(match: (call: PendingCall) => boolean): PendingCall[] {
    const taken: PendingCall[] = [];
    for (const call of this.values()) if (match(call)) taken.push(call);
    for (const call of taken) this.take(call.id);
    return taken;
  }

  /** Every pending call (a snapshot). */
  values(): PendingCall[] {
    const out: PendingCall[] = [];
    if (this.count === 0) return out;
    for (const call of this.slots) if (call !== undefined) out.push(call);
    for (const call of this.overflow.values()) out.push(call);
    return out;
  }

  /** Stops the timers (the table must be empty, or about to be dropped). */
  dispose(): void {
    if (this.sweepTimer !== null) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    this.sweepAt = Infinity;
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    this.keepAlive = null;
  }

  private armSweep(at: number): void {
    if (at === Infinity) return;
    if (this.sweepTimer !== null) clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = setTimeout(this.sweep, Math.max(0, at - performance.now()) + 1);
  }

  private readonly sweep = (): void => {
    this.sweepTimer = null;
    this.sweepAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    const expired: PendingCall[] = [];
    for (const call of this.values()) {
      if (call.resolve === null) continue;
      if (call.deadline <= now) expired.push(call);
      else if (call.deadline < next) next = call.deadline;
    }
    for (const call of expired) {
      this.take(call.id);
      this.onExpired(call);
    }
    if (next < this.sweepAt) this.armSweep(next);
  };

  private holdEventLoop(hold: boolean): void {
    if (hold) {
      if (this.keepAlive === null) this.keepAlive = setInterval(noop, 1 << 30);
      else this.keepAlive.ref();
    } else if (this.keepAlive !== null) {
      this.keepAlive.unref();
    }
  }
}

function noop(): void {}
