import type { Collector, OutputTag } from './core.js';

export interface Collected<T> {
  value: T;
  ts: number;
}

export interface SideCollected {
  tag: OutputTag<unknown>;
  value: unknown;
  ts: number;
}

/**
 * A collector that keeps everything in arrays: for tests, for draining a flush, for chaining cores
 * by hand. Not for the hot path of a long stream (it grows until `clear`).
 */
export class ArrayCollector<T> implements Collector<T> {
  readonly main: Collected<T>[] = [];
  readonly sides: SideCollected[] = [];

  collect(value: T, ts: number): void {
    this.main.push({ value, ts });
  }

  side<S>(tag: OutputTag<S>, value: S, ts: number): void {
    this.sides.push({ tag: tag as OutputTag<unknown>, value, ts });
  }

  /** The main-output values, in emission order. */
  values(): T[] {
    return this.main.map((c) => c.value);
  }

  /** The values sent to one side output, in emission order. */
  sideValues<S>(tag: OutputTag<S>): S[] {
    return this.sides.filter((c) => c.tag === tag).map((c) => c.value as S);
  }

  clear(): void {
    this.main.length = 0;
    this.sides.length = 0;
  }
}
