/**
 * The in-flight request table, in one SharedArrayBuffer the main thread and every operator
 * worker see (env.share). A request takes a slot; every record derived from it carries the slot's
 * origin; the slot's counter is the number of the request's records still in flight. Operators
 * that change the number of records (a filter that drops, a flatMap that fans out) adjust it with
 * one CAS; the sink takes one off per record it receives. The request is complete when it reaches
 * zero: no broker hop, no message per record.
 *
 * Descriptor (all offsets in bytes; Int32 words are little-endian host order):
 *
 *   0                16                      16 + 4·(capacity+1)
 *   +----------------+-----------------------+---------------------------------------------+
 *   | header         | words[0 … capacity]   | ids[0 … capacity], ID_STRIDE bytes each     |
 *   | magic version  | Int32 per slot:       | [0..3]  Int32 byte length of the id         |
 *   | capacity  pad  |  gen(12) | count(20)  | [4..]   the id's UTF-8 bytes (≤ MAX_ID_BYTES)|
 *   +----------------+-----------------------+---------------------------------------------+
 *
 *   origin (u32, what a record carries) = gen(12) << 20 | slot(20);  slot 0 is never used,
 *   so origin 0 means "no request".
 *
 * A slot's generation and count share one word, so "is this record still the request's, and
 * count it" is a single compare-and-swap: a record of a request that timed out (its slot released,
 * the generation moved on, perhaps taken by a new request) never touches the new request's count.
 * The main thread alone takes and releases slots; a release moves the generation on with count 0.
 * The id bytes are written before the first record is published (the ring's publish orders them);
 * a worker reading an id checks the generation again afterwards, so a slot reused in between is
 * seen as stale rather than giving the new request's id.
 */

export const SLOT_TABLE_MAGIC = 0x52465354; // 'RFST'
export const SLOT_TABLE_VERSION = 1;
const HEADER_BYTES = 16;
const H_MAGIC = 0;
const H_VERSION = 1;
const H_CAPACITY = 2;

export const COUNT_BITS = 20;
export const COUNT_MASK = (1 << COUNT_BITS) - 1;
export const GEN_MASK = 0xfff;
/** Most slots a table can have (the origin's slot field). */
export const MAX_SLOTS = COUNT_MASK;
/** Most records of one request in flight at once (the count field). */
export const MAX_IN_FLIGHT_RECORDS = COUNT_MASK;
/** Longest request id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 128;
const ID_STRIDE = 4 + MAX_ID_BYTES;

/** What `drop` found. */
export const Drop = {
  /** The record was one of several in flight: it is gone, the count is one less. */
  Dropped: 0,
  /** It was the request's last record in flight: the caller must pass a "done" marker on in its place. */
  Last: 1,
  /** The record belongs to a request that is over (timed out, aborted, failed): ignore it. */
  Stale: 2,
} as const;
export type Drop = (typeof Drop)[keyof typeof Drop];

export function slotOf(origin: number): number {
  return origin & COUNT_MASK;
}

function genOf(word: number): number {
  return (word >>> COUNT_BITS) & GEN_MASK;
}

/** The fan-out of one record would pass MAX_IN_FLIGHT_RECORDS for its request. */
export class FanOutTooLargeError extends Error {
  readonly code = 'ERR_FAN_OUT_TOO_LARGE';
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class SlotTable {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly words: Int32Array;
  private readonly ids: Uint8Array;
  private readonly idLengths: Int32Array;
  /** Main thread only: slots not in use, taken from the front (FIFO spreads reuse over all slots). */
  private free: Int32Array | undefined;
  private freeHead = 0;
  private freeCount = 0;
  /** Worker side: the last id read, by origin (consecutive records mostly share a request). */
  private lastOrigin = 0;
  private lastId = '';

  private constructor(buffer: SharedArrayBuffer) {
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    if (header[H_MAGIC] !== SLOT_TABLE_MAGIC || header[H_VERSION] !== SLOT_TABLE_VERSION) {
      throw new TypeError('not a ringflow serve slot table');
    }
    this.buffer = buffer;
    this.capacity = header[H_CAPACITY]!;
    this.words = new Int32Array(buffer, HEADER_BYTES, this.capacity + 1);
    const idsOffset = HEADER_BYTES + 4 * (this.capacity + 1);
    this.ids = new Uint8Array(buffer, idsOffset, ID_STRIDE * (this.capacity + 1));
    this.idLengths = new Int32Array(buffer, idsOffset, (ID_STRIDE * (this.capacity + 1)) / 4);
  }

  /** A new table of `capacity` slots (the most requests in flight at once), owned by this thread. */
  static create(capacity: number): SlotTable {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_SLOTS) {
      throw new RangeError(`slot table capacity must be an integer in 1 … ${MAX_SLOTS}, got ${capacity}`);
    }
    const bytes = HEADER_BYTES + 4 * (capacity + 1) + ID_STRIDE * (capacity + 1);
    const buffer = new SharedArrayBuffer(bytes);
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    header[H_MAGIC] = SLOT_TABLE_MAGIC;
    header[H_VERSION] = SLOT_TABLE_VERSION;
    header[H_CAPACITY] = capacity;
    const table = new SlotTable(buffer);
    table.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) table.free[i] = i + 1;
    table.freeCount = capacity;
    return table;
  }

  /** The table seen from another thread (an operator worker): count records, read ids. */
  static attach(buffer: SharedArrayBuffer): SlotTable {
    return new SlotTable(buffer);
  }

  /** Slots in use (main thread). */
  get inUse(): number {
    return this.capacity - this.freeCount;
  }

  /**
   * Takes a slot for a request whose first record is about to enter the pipeline (count 1) and
   * returns its origin, or 0 when every slot is taken. `id` must be at most MAX_ID_BYTES of UTF-8.
   */
  acquire(id: string): number {
    const free = this.free;
    if (free === undefined) throw new TypeError('only the thread that created the slot table takes slots');
    if (this.freeCount === 0) return 0;
    const slot = free[this.freeHead]!;
    this.freeHead = (this.freeHead + 1) % this.capacity;
    this.freeCount--;
    const base = slot * ID_STRIDE;
    const written = encoder.encodeInto(id, this.ids.subarray(base + 4, base + 4 + MAX_ID_BYTES)).written;
    this.idLengths[base / 4] = written;
    const gen = genOf(Atomics.load(this.words, slot));
    Atomics.store(this.words, slot, (gen << COUNT_BITS) | 1);
    return ((gen << COUNT_BITS) | slot) >>> 0;
  }

  /** Ends a request's slot: its generation moves on, so records still in flight for it are stale. */
  release(origin: number): void {
    const slot = slotOf(origin);
    const word = Atomics.load(this.words, slot);
    if (genOf(word) !== origin >>> COUNT_BITS) return; // released already
    Atomics.store(this.words, slot, ((genOf(word) + 1) & GEN_MASK) << COUNT_BITS);
    const tail = (this.freeHead + this.freeCount) % this.capacity;
    this.free![tail] = slot;
    this.freeCount++;
  }

  /** True while `origin`'s request holds its slot. */
  live(origin: number): boolean {
    return genOf(Atomics.load(this.words, slotOf(origin))) === origin >>> COUNT_BITS;
  }

  /** Records of `origin`'s request in flight, or -1 when the request is over. */
  inFlight(origin: number): number {
    const word = Atomics.load(this.words, slotOf(origin));
    return genOf(word) === origin >>> COUNT_BITS ? word & COUNT_MASK : -1;
  }

  /**
   * One record became `n` ≥ 1 records (a flatMap): counts the n-1 new ones, before they are
   * published. False when the request is over (the records should be dropped).
   */
  derive(origin: number, n: number): boolean {
    if (n === 1) return this.live(origin);
    const slot = slotOf(origin);
    const gen = origin >>> COUNT_BITS;
    for (;;) {
      const word = Atomics.load(this.words, slot);
      if (genOf(word) !== gen) return false;
      const count = (word & COUNT_MASK) + n - 1;
      if (count > MAX_IN_FLIGHT_RECORDS) throw new FanOutTooLargeError(`a request may have at most ${MAX_IN_FLIGHT_RECORDS} records in flight`);
      if (Atomics.compareExchange(this.words, slot, word, (gen << COUNT_BITS) | count) === word) return true;
    }
  }

  /** A record was filtered out. See Drop for what the caller does next. */
  drop(origin: number): Drop {
    const slot = slotOf(origin);
    const gen = origin >>> COUNT_BITS;
    for (;;) {
      const word = Atomics.load(this.words, slot);
      if (genOf(word) !== gen) return Drop.Stale;
      const count = word & COUNT_MASK;
      if (count <= 1) return Drop.Last;
      if (Atomics.compareExchange(this.words, slot, word, word - 1) === word) return Drop.Dropped;
    }
  }

  /** A record reached the end (a result or a marker): returns how many remain in flight, or -1 when stale. */
  settle(origin: number): number {
    const slot = slotOf(origin);
    const gen = origin >>> COUNT_BITS;
    for (;;) {
      const word = Atomics.load(this.words, slot);
      if (genOf(word) !== gen) return -1;
      const count = word & COUNT_MASK;
      if (count === 0) return -1;
      if (Atomics.compareExchange(this.words, slot, word, word - 1) === word) return count - 1;
    }
  }

  /** The id of `origin`'s request, or undefined when the request is over. */
  requestId(origin: number): string | undefined {
    if (origin === this.lastOrigin && this.live(origin)) return this.lastId;
    const slot = slotOf(origin);
    if (!this.live(origin)) return undefined;
    const base = slot * ID_STRIDE;
    const length = this.idLengths[base / 4]!;
    // A copy: TextDecoder does not read shared memory, and the bytes may change once the slot is reused.
    const id = decoder.decode(this.ids.slice(base + 4, base + 4 + length));
    if (!this.live(origin)) return undefined;
    this.lastOrigin = origin;
    this.lastId = id;
    return id;
  }
}
