import { InvalidArgumentError } from '../../errors.js';
import type { Aggregator } from './aggregator.js';
import type { KeyedOperatorCore } from './core.js';
import { CountWindowOperator } from './count-window.js';
import { SessionWindowOperator } from './session-window.js';
import { SlidingTimeWindowOperator } from './time-window.js';
import type {
  CountWindowResult,
  CountWindowSpec,
  TimeWindowResult,
  TimeWindowSpec,
  WindowSpec,
} from './window-types.js';

const SHAPES = ['tumbling', 'sliding', 'session', 'count'] as const;

/**
 * The operator core for a window spec as the DataStream API spells it
 * (`{ tumbling: 1000, on: 'eventTime', allowedLatenessMs: 200 }`, `{ sliding, slide }`,
 * `{ session }`, `{ count, slide? }`), folding each window with `aggregator`. For
 * `.reduce(fn)` pass `reducer(fn)`.
 */
export function windowOperator<K, I, A, R>(
  spec: CountWindowSpec,
  aggregator: Aggregator<I, A, R>,
): KeyedOperatorCore<K, I, CountWindowResult<K, R>>;
export function windowOperator<K, I, A, R>(
  spec: TimeWindowSpec,
  aggregator: Aggregator<I, A, R>,
): KeyedOperatorCore<K, I, TimeWindowResult<K, R>>;
export function windowOperator<K, I, A, R>(
  spec: WindowSpec,
  aggregator: Aggregator<I, A, R>,
): KeyedOperatorCore<K, I, CountWindowResult<K, R> | TimeWindowResult<K, R>>;
export function windowOperator<K, I, A, R>(
  spec: WindowSpec,
  aggregator: Aggregator<I, A, R>,
): KeyedOperatorCore<K, I, CountWindowResult<K, R> | TimeWindowResult<K, R>> {
  const shapes = SHAPES.filter((s) => spec !== null && typeof spec === 'object' && s in spec);
  if (shapes.length !== 1) {
    throw new InvalidArgumentError(`a window spec names exactly one of ${SHAPES.join(', ')}; got ${shapes.length === 0 ? 'none' : shapes.join(' and ')}`);
  }
  if ('count' in spec) return new CountWindowOperator<K, I, A, R>({ size: spec.count, slide: spec.slide }, aggregator);
  if ('session' in spec) {
    return new SessionWindowOperator<K, I, A, R>({ gapMs: spec.session, on: spec.on, allowedLatenessMs: spec.allowedLatenessMs }, aggregator);
  }
  if ('sliding' in spec) {
    if (spec.slide === undefined) throw new InvalidArgumentError('a sliding window needs slide (ms between window starts)');
    return new SlidingTimeWindowOperator<K, I, A, R>(
      { sizeMs: spec.sliding, slideMs: spec.slide, on: spec.on, allowedLatenessMs: spec.allowedLatenessMs },
      aggregator,
    );
  }
  return new SlidingTimeWindowOperator<K, I, A, R>(
    { sizeMs: spec.tumbling, on: spec.on, allowedLatenessMs: spec.allowedLatenessMs },
    aggregator,
  );
}
