// ringflow stream operators: the single-threaded, stateful cores (windows, joins, vector search)
// that the runtime drives with records and watermarks. See core.ts for the contract.
export type { OperatorContext } from './context.js';
export { OutputTag } from './core.js';
export type { Collector, OperatorCore, KeyedOperatorCore, KeyedTwoInputOperatorCore, JoinSide } from './core.js';
export { ArrayCollector } from './collector.js';
export type { Collected, SideCollected } from './collector.js';
export { reducer } from './aggregator.js';
export type { Aggregator } from './aggregator.js';
export { WatermarkTracker, MinWatermark } from './watermark.js';
export { TimerQueue } from './timer-queue.js';

export { LATE_OUTPUT } from './window-types.js';
export type {
  Window,
  WindowResult,
  CountWindowResult,
  TimeWindowResult,
  LateRecord,
  TimeDomain,
  WindowSpec,
  TimeWindowSpec,
  TumblingWindowSpec,
  SlidingWindowSpec,
  SessionWindowSpec,
  CountWindowSpec,
} from './window-types.js';
export { windowOperator } from './window.js';
export { CountWindowOperator } from './count-window.js';
export { SlidingTimeWindowOperator } from './time-window.js';
export type { SlidingTimeWindowOptions } from './time-window.js';
export { SessionWindowOperator } from './session-window.js';
export type { SessionWindowOptions } from './session-window.js';

export { IntervalJoinOperator } from './interval-join.js';
export type { IntervalJoinOptions, JoinedPair, LateJoinRecord } from './interval-join.js';

export {
  dot,
  dotAt,
  norm,
  normAt,
  squaredL2At,
  l2Distance,
  l2Similarity,
  l2SimilarityFromSquared,
  cosineSimilarity,
  cosineFromParts,
  similarity,
  requireDim,
} from './vector-math.js';
export type { SimilarityMetric, VectorArray } from './vector-math.js';
export { FlatVectors } from './flat-vectors.js';
export type { VectorItem } from './flat-vectors.js';
export { TopKOperator } from './top-k.js';
export type { TopKOptions, TopKHit, TopKResult } from './top-k.js';
export { SimilarityJoin, SimilarityDedup, DUPLICATE_OUTPUT } from './similarity-join.js';
export type { SimilarityOptions, SimilarPair, DuplicateRecord } from './similarity-join.js';

// The errors these operators throw, so callers can match on them from one import.
export { InvalidArgumentError } from '../../errors.js';
export { DimensionMismatchError } from '../../codec/errors.js';
