/**
 * How a window folds its records into one result. `add` and `merge` return the new accumulator, so
 * immutable accumulators (numbers, strings) work as well as mutable ones (return the same object).
 * `merge` is needed only by session windows, which merge when a record bridges two sessions.
 */
export interface Aggregator<I, A, R> {
  createAccumulator(): A;
  add(accumulator: A, value: I): A;
  getResult(accumulator: A): R;
  /** Combine an earlier window's accumulator `a` with a later one's `b`. */
  merge?(a: A, b: A): A;
}

/** The accumulator of a reduce before its first value. A symbol so that any user value is allowed. */
const EMPTY: unique symbol = Symbol('ringflow.emptyReduce');
type ReduceAccumulator<T> = T | typeof EMPTY;

/**
 * `reduce(fn)` as an Aggregator, so windows have one code path. A window is only ever emitted
 * after it received a record, so `getResult` never sees EMPTY.
 */
export function reducer<T>(fn: (a: T, b: T) => T): Aggregator<T, ReduceAccumulator<T>, T> {
  return {
    createAccumulator: () => EMPTY,
    add: (acc, value) => (acc === EMPTY ? value : fn(acc, value)),
    getResult: (acc) => acc as T,
    merge: (a, b) => (a === EMPTY ? b : b === EMPTY ? a : fn(a, b)),
  };
}
