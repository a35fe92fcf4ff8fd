import { ServeError, ServeErrorCode } from './errors.js';
import { slotOf, SlotTable } from './slot-table.js';
import type { Envelope } from './envelope.js';
import { EndedRequests } from './ended-requests.js';

/** How a request ended. */
export type Outcome =
  | { ok: true; results: unknown[] }
  | { ok: false; error: ServeError };

/** Someone streaming a request's results as they come (SSE). */
export interface ResultListener {
  result(value: unknown): void;
  end(outcome: Outcome): void;
}

/** A request in the pipeline. */
export class InFlight {
  readonly results: unknown[] = [];
  listeners: ResultListener[] | undefined;
  /** performance.now() past which the request gets 408. */
  deadline = 0;
  ended = false;
  /** Called once with the outcome (the sync handler's answer). */
  onEnd: ((outcome: Outcome) => void) | undefined;
  constructor(
    readonly id: string,
    readonly origin: number,
    readonly async: boolean,
  ) {}
}

export interface RegistryOptions {
  requestTimeoutMs: number;
  idRetentionMs: number;
  maxRetainedIds: number;
  resultTtlMs: number;
  maxStoredResults: number;
}

/**
 * Every request the server knows: in flight (by slot and by id), and recently ended (by id, for
 * the 409 window; async ones with their results, for fetch and SSE). Main thread only.
 */
export class RequestRegistry {
  private readonly bySlot: (InFlight | undefined)[];
  private readonly inFlight = new Map<string, InFlight>();
  /** Ended sync requests, in the order they ended (so expiry is a sweep from the front). */
  private readonly recent: EndedRequests<Outcome>;
  /** Ended async requests and their outcomes, in the order they ended. */
  private readonly stored: EndedRequests<Outcome>;
  private readonly sweeper: NodeJS.Timeout;
  /**
   * Requests in the order they opened, which is their deadlines' order (one timeout for all):
   * one timer, for the oldest, instead of one per request. Ended ones leave when they reach the
   * front, or when the queue is compacted (it stays within twice the requests in flight).
   */
  private deadlines: InFlight[] = [];
  private deadlinesHead = 0;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private drained: (() => void) | undefined;
  private slotWaiters: (() => void)[] = [];

  constructor(
    readonly table: SlotTable,
    private readonly options: RegistryOptions,
  ) {
    this.bySlot = new Array(table.capacity + 1);
    this.recent = new EndedRequests(options.maxRetainedIds);
    this.stored = new EndedRequests(options.maxStoredResults);
    const every = Math.max(10, Math.min(1000, options.idRetentionMs, options.resultTtlMs));
    this.sweeper = setInterval(() => this.sweep(Date.now()), every).unref();
  }

  get size(): { inFlight: number; slots: number; recentIds: number; storedResults: number } {
    return { inFlight: this.inFlight.size, slots: this.table.inUse, recentIds: this.recent.size, storedResults: this.stored.size };
  }

  /** 409 when the id is in flight or ended within its retention window. */
  checkNew(id: string): void {
    if (this.inFlight.has(id)) throw new ServeError(409, ServeErrorCode.DuplicateId, `request id '${id}' is in flight`);
    // Both are asked: an expired entry in one must not hide a live one in the other.
    const now = Date.now();
    if (live(this.recent.get(id), now) || live(this.stored.get(id), now)) {
      throw new ServeError(409, ServeErrorCode.DuplicateId, `request id '${id}' was used by a request that ended less than its retention window ago`);
    }
  }

  /** Takes a slot for a request (after checkNew); undefined when every slot is in use. */
  open(id: string, async: boolean): InFlight | undefined {
    const origin = this.table.acquire(id);
    if (origin === 0) return undefined;
    const request = new InFlight(id, origin, async);
    this.bySlot[slotOf(origin)] = request;
    this.inFlight.set(id, request);
    request.deadline = performance.now() + this.options.requestTimeoutMs;
    if (this.deadlines.length - this.deadlinesHead > 2 * this.inFlight.size + 1024) this.compactDeadlines();
    this.deadlines.push(request);
    if (this.deadlineTimer === undefined) this.armDeadline(this.options.requestTimeoutMs);
    return request;
  }

  private armDeadline(ms: number): void {
    this.deadlineTimer = setTimeout(() => this.expire(), Math.max(1, Math.ceil(ms)));
  }

  /** Ends the requests past their deadline (408) and arms the timer for the oldest left. */
  private expire(): void {
    this.deadlineTimer = undefined;
    const now = performance.now();
    const queue = this.deadlines;
    let head = this.deadlinesHead;
    while (head < queue.length) {
      const request = queue[head]!;
      if (!request.ended) {
        if (request.deadline > now) break;
        this.end(request, timeoutOutcome(this.options.requestTimeoutMs));
      }
      head++;
    }
    if (head === queue.length) {
      this.deadlines = [];
      this.deadlinesHead = 0;
      return;
    }
    this.deadlinesHead = head;
    if (head > 1024 && head * 2 > queue.length) this.compactDeadlines();
    this.armDeadline(this.deadlines[this.deadlinesHead]!.deadline - now);
  }

  private compactDeadlines(): void {
    const live: InFlight[] = [];
    for (let i = this.deadlinesHead; i < this.deadlines.length; i++) if (!this.deadlines[i]!.ended) live.push(this.deadlines[i]!);
    this.deadlines = live;
    this.deadlinesHead = 0;
  }

  /** A record of some request reached the sink. */
  deliver(record: Envelope): void {
    const request = this.bySlot[slotOf(record.o)];
    if (request === undefined || request.origin !== record.o) return; // its request is over
    const left = this.table.settle(record.o);
    if (left < 0) return;
    if (record.m === 'error') {
      const e = record.e!;
      this.end(request, { ok: false, error: new ServeError(500, ServeErrorCode.OperatorFailed, e.message) });
      return;
    }
    if (record.m === undefined) {
      request.results.push(record.v);
      if (request.listeners) for (const l of request.listeners) l.result(record.v);
    }
    if (left === 0) this.end(request, { ok: true, results: request.results });
  }

  /** An operator failed on a record the runtime reported (outside serve's own operators). */
  failed(origin: number, message: string): void {
    const request = this.bySlot[slotOf(origin)];
    if (request === undefined || request.origin !== origin) return;
    this.end(request, { ok: false, error: new ServeError(500, ServeErrorCode.OperatorFailed, message) });
  }

  /** Ends a request (answered, timed out, aborted, failed): frees its slot, remembers its id. */
  end(request: InFlight, outcome: Outcome): void {
    if (request.ended) return;
    request.ended = true;
    this.table.release(request.origin);
    this.bySlot[slotOf(request.origin)] = undefined;
    this.inFlight.delete(request.id);
    const now = Date.now();
    // Every id is held for idRetentionMs, an async one's results for resultTtlMs besides: an id
    // stays taken while either lasts, whichever of them is shorter or evicted first.
    this.recent.add({ id: request.id, expiresAt: now + this.options.idRetentionMs, outcome: undefined });
    if (request.async) this.stored.add({ id: request.id, expiresAt: now + this.options.resultTtlMs, outcome });
    if (this.slotWaiters.length > 0) {
      const waiters = this.slotWaiters;
      this.slotWaiters = [];
      for (const w of waiters) w();
    }
    // The deadline queue keeps an ended request until it reaches the front (~1 k requests at full
    // load): dropping its callbacks here lets its reply, socket buffers and listeners die young
    // instead of being promoted with it (that was most of the old generation's growth).
    const onEnd = request.onEnd;
    const listeners = request.listeners;
    request.onEnd = undefined;
    request.listeners = undefined;
    onEnd?.(outcome);
    if (listeners) for (const l of listeners) l.end(outcome);
    if (this.inFlight.size === 0) this.drained?.();
  }

  /** Ends every request in flight with `error` (the pipeline failed). */
  failAll(error: ServeError): void {
    for (const request of [...this.inFlight.values()]) this.end(request, { ok: false, error });
  }

  /** What fetch and SSE see of an id: in flight, ended with a kept outcome, or unknown (undefined). */
  lookup(id: string): InFlight | Outcome | undefined {
    const request = this.inFlight.get(id);
    if (request !== undefined) return request;
    const stored = this.stored.get(id);
    if (stored !== undefined && stored.expiresAt > Date.now()) return stored.outcome;
    return undefined;
  }

  /** Resolves when a request ends (a slot is free again) or after `ms`. */
  whenSlotFree(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.slotWaiters = this.slotWaiters.filter((w) => w !== done);
        resolve();
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.slotWaiters.push(done);
    });
  }

  /** Resolves once no request is in flight. */
  whenDrained(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }

  sweep(now: number): void {
    this.recent.dropExpired(now);
    this.stored.dropExpired(now);
  }

  stop(): void {
    clearInterval(this.sweeper);
    clearTimeout(this.deadlineTimer);
  }
}

function live(entry: { expiresAt: number } | undefined, now: number): boolean {
  return entry !== undefined && entry.expiresAt > now;
}

function timeoutOutcome(ms: number): Outcome {
  return { ok: false, error: new ServeError(408, ServeErrorCode.Timeout, `the request took longer than requestTimeoutMs (${ms} ms)`) };
}
