// The contract between an operator core and the runtime that drives it. A core is single-threaded
// and knows nothing of threads or rings: the runtime hands it records and watermarks, and it
// answers by calling its collector synchronously. The runtime must copy or encode whatever it is
// given before `collect` returns (an output may reference the input record, and input vectors may
// be views over ring memory that is recycled after `process` returns).

/**
 * Names a side output. Tags are compared by identity and routed by `id`; the operators of this
 * folder use the module-level constants `LATE_OUTPUT` and `DUPLICATE_OUTPUT`.
 */
export class OutputTag<T> {
  /** Never set: it only carries T so that `side(tag, value)` type-checks the value. */
  declare readonly __type?: T;
  constructor(readonly id: string) {}
}

/** Where an operator sends its results: the main output, and side outputs by tag. */
export interface Collector<T> {
  collect(value: T, ts: number): void;
  /** A record that leaves by a side door (too late for its window, a near-duplicate, ...). */
  side<S>(tag: OutputTag<S>, value: S, ts: number): void;
}

/** An operator over one unkeyed input. */
export interface OperatorCore<I, O> {
  /** `ts`: event time in ms, or processing time (arrival) for processing-time operators. */
  process(value: I, ts: number, out: Collector<O>): void;
  /** Time advanced to `watermark`: no record with `ts < watermark` is expected any more. */
  onWatermark(watermark: number, out: Collector<O>): void;
  /** End of input: emit whatever is pending, then drop all state. */
  flush(out: Collector<O>): void;
}

/** An operator over a keyed input: state is kept per key, the runtime passes the key it routed by. */
export interface KeyedOperatorCore<K, I, O> {
  process(key: K, value: I, ts: number, out: Collector<O>): void;
  onWatermark(watermark: number, out: Collector<O>): void;
  flush(out: Collector<O>): void;
}

export type JoinSide = 'left' | 'right';

/** An operator over two keyed inputs (a join): `side` says which input a record came from. */
export interface KeyedTwoInputOperatorCore<K, L, R, O> {
  process(side: 'left', key: K, value: L, ts: number, out: Collector<O>): void;
  process(side: 'right', key: K, value: R, ts: number, out: Collector<O>): void;
  process(side: JoinSide, key: K, value: L | R, ts: number, out: Collector<O>): void;
  /** The runtime passes the smaller of the two inputs' watermarks (see MinWatermark). */
  onWatermark(watermark: number, out: Collector<O>): void;
  flush(out: Collector<O>): void;
}
