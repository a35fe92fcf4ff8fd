import type { VectorDType } from '../../codec/dtype.js';
import { InvalidArgumentError } from '../../errors.js';
import { OutputTag, type Collector, type JoinSide, type OperatorCore } from './core.js';
import { FlatVectors, requireDType, requireMetric, type VectorItem } from './flat-vectors.js';
import { RecentVectors, ThresholdMatcher } from './recent-vectors.js';
import type { SimilarityMetric } from './vector-math.js';
import { requireNonNegativeFinite, requirePositiveInteger, requireTimestamp } from './validate.js';

export interface SimilarityOptions {
  dim: number;
  metric: SimilarityMetric;
  /** Pairs with similarity >= threshold match ('l2' similarity is exp(-0.1 · distance)). */
  threshold: number;
  /** How many recent vectors are kept (per side for a join). Default 1024. */
  capacity?: number;
  /** Also require |ts difference| <= withinMs. Default: no time limit beyond `capacity`. */
  withinMs?: number;
  /** Storage of kept vectors; incoming vectors are rounded to it before comparing. Default 'Float32'. */
  dtype?: VectorDType;
}

export interface SimilarPair<LId, RId> {
  readonly leftId: LId;
  readonly rightId: RId;
  readonly score: number;
  readonly leftTs: number;
  readonly rightTs: number;
}

/** What SimilarityDedup sends to DUPLICATE_OUTPUT. */
export interface DuplicateRecord<Id> {
  readonly id: Id;
  readonly ts: number;
  /** The kept vector it is within threshold of (the most similar; the oldest on a tie). */
  readonly duplicateOf: Id;
  readonly duplicateOfTs: number;
  readonly score: number;
}

export const DUPLICATE_OUTPUT = new OutputTag<DuplicateRecord<unknown>>('duplicate');

const DEFAULT_CAPACITY = 1024;

/** The options both operators share, checked once; and the scratch slot an incoming vector is rounded into. */
class SimilaritySettings {
  readonly matcher: ThresholdMatcher;
  readonly capacity: number;
  readonly withinMs: number;
  readonly dtype: VectorDType;
  /** The incoming vector in storage precision, so a pair scores the same whichever side came first. */
  readonly incoming: FlatVectors;

  constructor(options: SimilarityOptions) {
    const dim = requirePositiveInteger('dim', options.dim);
    this.matcher = new ThresholdMatcher(requireMetric(options.metric), options.threshold);
    this.capacity = requirePositiveInteger('capacity', options.capacity ?? DEFAULT_CAPACITY);
    this.withinMs = options.withinMs === undefined ? Infinity : requireNonNegativeFinite('withinMs', options.withinMs);
    this.dtype = requireDType(options.dtype ?? 'Float32');
    this.incoming = new FlatVectors(dim, 1, this.dtype);
  }

  recent<Id>(): RecentVectors<Id> {
    return new RecentVectors<Id>(this.incoming.dim, this.capacity, this.dtype);
  }
}

/**
 * Similarity join of two vector streams: each arriving vector is compared with the other side's
 * last `capacity` vectors (within `withinMs`, when set), oldest first, and every pair at or above
 * the threshold is emitted at ts = max of the two. Then it is kept on its own side, evicting that
 * side's oldest. So each pair is found once, when its second vector arrives, and state is fixed
 * at 2 · capacity vectors. Time does not drive this operator: onWatermark does nothing, and flush
 * (nothing pending) drops the kept vectors.
 */
export class SimilarityJoin<LId, RId> {
  private readonly settings: SimilaritySettings;
  private readonly left: RecentVectors<LId>;
  private readonly right: RecentVectors<RId>;

  constructor(options: SimilarityOptions) {
    this.settings = new SimilaritySettings(options);
    this.left = this.settings.recent();
    this.right = this.settings.recent();
  }

  process(side: 'left', item: VectorItem<LId>, ts: number, out: Collector<SimilarPair<LId, RId>>): void;
  process(side: 'right', item: VectorItem<RId>, ts: number, out: Collector<SimilarPair<LId, RId>>): void;
  process(side: JoinSide, item: VectorItem<LId | RId>, ts: number, out: Collector<SimilarPair<LId, RId>>): void;
  process(side: JoinSide, item: VectorItem<LId | RId>, ts: number, out: Collector<SimilarPair<LId, RId>>): void {
    if (side !== 'left' && side !== 'right') throw new InvalidArgumentError(`side must be 'left' or 'right', got ${String(side)}`);
    requireTimestamp(ts);
    const { matcher, withinMs, incoming } = this.settings;
    incoming.set(0, item.vector); // throws ERR_DIM_MISMATCH
    const query = incoming.data;
    const queryNorm = incoming.norms[0]!;
    const isLeft = side === 'left';
    const other: RecentVectors<LId | RId> = isLeft ? this.right : this.left;
    for (let i = 0; i < other.count; i++) {
      const slot = other.slotAt(i);
      const otherTs = other.times[slot]!;
      if (Math.abs(otherTs - ts) > withinMs) continue;
      const score = matcher.match(other.store, query, queryNorm, slot);
      if (score !== score) continue; // NaN: below threshold
      const otherId = other.idAt(slot);
      const pair: SimilarPair<LId, RId> = isLeft
        ? { leftId: item.id as LId, rightId: otherId as RId, score, leftTs: ts, rightTs: otherTs }
        : { leftId: otherId as LId, rightId: item.id as RId, score, leftTs: otherTs, rightTs: ts };
      out.collect(pair, Math.max(ts, otherTs));
    }
    const own: RecentVectors<LId | RId> = isLeft ? this.left : this.right;
    own.push(query, item.id, ts);
  }

  onWatermark(_watermark?: number, _out?: Collector<SimilarPair<LId, RId>>): void {}

  flush(_out?: Collector<SimilarPair<LId, RId>>): void {
    this.left.clear();
    this.right.clear();
  }
}

/**
 * The self-join for deduplication: "is this vector within threshold of one kept recently?". A
 * vector with no match among the last `capacity` kept vectors (within `withinMs`, when set) is
 * emitted as is and kept; one with a match goes to DUPLICATE_OUTPUT (with the match) and is not
 * kept, so the kept vectors are the representatives and a slow drift of near-copies cannot walk
 * the representative away.
 */
export class SimilarityDedup<Id> implements OperatorCore<VectorItem<Id>, VectorItem<Id>> {
  private readonly settings: SimilaritySettings;
  private readonly kept: RecentVectors<Id>;

  constructor(options: SimilarityOptions) {
    this.settings = new SimilaritySettings(options);
    this.kept = this.settings.recent();
  }

  process(item: VectorItem<Id>, ts: number, out: Collector<VectorItem<Id>>): void {
    requireTimestamp(ts);
    const { matcher, withinMs, incoming } = this.settings;
    incoming.set(0, item.vector);
    const query = incoming.data;
    const queryNorm = incoming.norms[0]!;
    const kept = this.kept;
    let bestScore = -Infinity;
    let bestSlot = -1;
    for (let i = 0; i < kept.count; i++) {
      const slot = kept.slotAt(i);
      if (Math.abs(kept.times[slot]! - ts) > withinMs) continue;
      const score = matcher.match(kept.store, query, queryNorm, slot);
      if (score > bestScore) {
        bestScore = score;
        bestSlot = slot;
      }
    }
    if (bestSlot < 0) {
      out.collect(item, ts);
      kept.push(query, item.id, ts);
      return;
    }
    const duplicate: DuplicateRecord<Id> = {
      id: item.id,
      ts,
      duplicateOf: kept.idAt(bestSlot),
      duplicateOfTs: kept.times[bestSlot]!,
      score: bestScore,
    };
    out.side(DUPLICATE_OUTPUT as OutputTag<DuplicateRecord<Id>>, duplicate, ts);
  }

  onWatermark(_watermark?: number, _out?: Collector<VectorItem<Id>>): void {}

  flush(_out?: Collector<VectorItem<Id>>): void {
    this.kept.clear();
  }
}
