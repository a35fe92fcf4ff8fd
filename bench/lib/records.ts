/**
 * The "small record" of the one-way suites, identical on every path: seven float64 fields
 * `seq, ts, a, b, c, d, e` = 56 bytes of payload, which with the ring's 8-byte frame header makes
 * a 64-byte frame. On the postMessage path it is the object `{ seq, ts, a, b, c, d, e }`; in a
 * transferred batch, 7 consecutive float64s per record.
 *
 * Every consumer sums all seven fields of every record it receives and reports the sum, which the
 * driver checks, so a path that drops or garbles records cannot go unnoticed. `seq` cycles
 * 0..1023 and the other fields are 1..6, keeping sums exact in float64.
 */
export const SMALL_FIELDS = 7;
export const SMALL_RECORD_BYTES = SMALL_FIELDS * 8; // 56
export const SMALL_FRAME_TYPE = 0;
/** A frame that carries SMALL_BATCH consecutive small records (the batched ring variant). */
export const SMALL_BATCH_FRAME_TYPE = 1;
/** Records per transferred ArrayBuffer / batched frame. */
export const SMALL_BATCH = 1024;

export interface SmallRecord {
  seq: number;
  ts: number;
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
}

export function seqOf(i: number): number {
  return i & 1023;
}

/** Writes record `i` at float64 index `at` of `f64`. */
export function writeSmall(f64: Float64Array, at: number, i: number): void {
  f64[at] = i & 1023;
  f64[at + 1] = 1;
  f64[at + 2] = 2;
  f64[at + 3] = 3;
  f64[at + 4] = 4;
  f64[at + 5] = 5;
  f64[at + 6] = 6;
}

export function smallObject(i: number): SmallRecord {
  return { seq: i & 1023, ts: 1, a: 2, b: 3, c: 4, d: 5, e: 6 };
}

/** Sum of all fields of records 0..n-1 (the consumer's checksum of one iteration of n records). */
export function expectedSmallSum(n: number): number {
  const full = Math.floor(n / 1024);
  const rest = n % 1024;
  return full * ((1023 * 1024) / 2) + (rest * (rest - 1)) / 2 + 21 * n;
}
