import type { VectorDType } from '../../codec/dtype.js';
import { InvalidArgumentError } from '../../errors.js';
import type { Collector, OperatorCore } from './core.js';
import { FlatVectors, requireMetric, type VectorItem } from './flat-vectors.js';
import { l2SimilarityFromSquared, normAt, requireDim, squaredL2At, type SimilarityMetric, type VectorArray } from './vector-math.js';
import { requirePositiveInteger } from './validate.js';

export interface TopKOptions<Id> {
  k: number;
  metric: SimilarityMetric;
  dim: number;
  /** The fixed set searched, copied into flat storage at construction. */
  vectors: readonly VectorArray[];
  /** One id per vector; default the vector's index. */
  ids?: readonly Id[];
  /** Storage of the set; default 'Float32'. Queries are used as given, not rounded. */
  dtype?: VectorDType;
}

export interface TopKHit<Id> {
  readonly id: Id;
  /** Position of the member in `vectors`. */
  readonly index: number;
  /** Similarity: exp(-0.1 · distance) for 'l2', cosine, or dot product. */
  readonly score: number;
}

export interface TopKResult<Q, Id> {
  /** The query's id. */
  readonly id: Q;
  /** Best first; min(k, set size) hits. */
  readonly hits: TopKHit<Id>[];
}

/**
 * For each input vector, the k most similar members of a fixed set, best first.
 *
 * Ranking: 'l2' by euclidean distance ascending (squared, no sqrt or exp per comparison; the score
 * reported is exp(-0.1 · distance), so scores descend too), 'cosine' and 'dot' by score
 * descending. Ties (equal distance or score) go to the member with the lower index, so results
 * are deterministic. A NaN (from NaN input) ranks below everything and is reported as -Infinity
 * (0 for 'l2'). k larger than the set returns the whole set.
 *
 * Cost per query: one pass over the flat set with a k-slot heap in preallocated typed arrays; the
 * only allocations are the returned hits.
 */
export class TopKOperator<Q, Id = number> implements OperatorCore<VectorItem<Q>, TopKResult<Q, Id>> {
  readonly k: number;
  readonly metric: SimilarityMetric;
  readonly dim: number;
  private readonly set: FlatVectors | undefined;
  private readonly count: number;
  private readonly ids: readonly Id[] | undefined;
  private readonly best: BestK;

  constructor(options: TopKOptions<Id>) {
    this.k = requirePositiveInteger('k', options.k);
    this.metric = requireMetric(options.metric);
    this.dim = requirePositiveInteger('dim', options.dim);
    const vectors = options.vectors;
    if (!Array.isArray(vectors)) throw new InvalidArgumentError('vectors must be an array of Float32Array/Float64Array');
    if (options.ids !== undefined && options.ids.length !== vectors.length) {
      throw new InvalidArgumentError(`ids has ${options.ids.length} entries for ${vectors.length} vectors`);
    }
    this.count = vectors.length;
    this.ids = options.ids;
    this.set = this.count === 0 ? undefined : new FlatVectors(this.dim, this.count, options.dtype);
    for (let i = 0; i < this.count; i++) {
      requireDim(vectors[i]!, this.dim, `set vector ${i}`);
      this.set!.set(i, vectors[i]!);
    }
    this.best = new BestK(Math.min(this.k, Math.max(this.count, 1)));
  }

  /** The hits for one query, best first. Throws ERR_DIM_MISMATCH on a query of another length. */
  search(query: VectorArray): TopKHit<Id>[] {
    requireDim(query, this.dim, 'query vector');
    const set = this.set;
    if (set === undefined) return [];
    const best = this.best;
    const metric = this.metric;
    const dim = this.dim;
    const data = set.data;
    const queryNorm = metric === 'cosine' ? normAt(query, 0, dim) : 0;
    for (let i = 0; i < this.count; i++) {
      // Larger rank is better: negated squared distance for l2, the score otherwise.
      const rank = metric === 'l2' ? -squaredL2At(query, 0, data, i * dim, dim) : set.similarity(metric, query, queryNorm, i);
      best.offer(rank, i);
    }
    const count = best.sortBestFirst();
    const hits = new Array<TopKHit<Id>>(count);
    for (let position = 0; position < count; position++) {
      const rank = best.rankAt(position);
      const index = best.indexAt(position);
      const score = metric === 'l2' ? l2SimilarityFromSquared(-rank) : rank;
      hits[position] = { id: this.ids === undefined ? (index as Id) : this.ids[index]!, index, score };
    }
    return hits;
  }

  process(item: VectorItem<Q>, ts: number, out: Collector<TopKResult<Q, Id>>): void {
    out.collect({ id: item.id, hits: this.search(item.vector) }, ts);
  }

  onWatermark(_watermark?: number, _out?: Collector<TopKResult<Q, Id>>): void {}

  flush(_out?: Collector<TopKResult<Q, Id>>): void {}
}

/**
 * The best `capacity` of a sequence of (rank, index) offers: a min-heap whose root is the worst
 * kept, so a new offer is compared with one element. Larger rank is better; equal ranks prefer
 * the lower index.
 */
class BestK {
  private readonly ranks: Float64Array;
  private readonly indices: Int32Array;
  size = 0;

  constructor(readonly capacity: number) {
    this.ranks = new Float64Array(capacity);
    this.indices = new Int32Array(capacity);
  }

  offer(rank: number, index: number): void {
    if (rank !== rank) rank = -Infinity; // NaN: ranks last instead of breaking the heap order
    if (this.size < this.capacity) {
      this.siftUp(this.size++, rank, index);
    } else if (this.isWorse(this.ranks[0]!, this.indices[0]!, rank, index)) {
      this.siftDown(0, rank, index);
    }
  }

  /**
   * Heapsort in place: afterwards entries [0, count) are best first (read them with rankAt and
   * indexAt) and the heap is empty for the next query. Returns count.
   */
  sortBestFirst(): number {
    const count = this.size;
    while (this.size > 1) {
      const rank = this.ranks[0]!;
      const index = this.indices[0]!;
      const last = --this.size;
      this.siftDown(0, this.ranks[last]!, this.indices[last]!);
      // The worst left comes out first, so it takes the last free position.
      this.ranks[last] = rank;
      this.indices[last] = index;
    }
    this.size = 0;
    return count;
  }

  rankAt(position: number): number {
    return this.ranks[position]!;
  }

  indexAt(position: number): number {
    return this.indices[position]!;
  }

  /** Entry a is worse than entry b. */
  private isWorse(rankA: number, indexA: number, rankB: number, indexB: number): boolean {
    return rankA < rankB || (rankA === rankB && indexA > indexB);
  }

  private siftUp(position: number, rank: number, index: number): void {
    const ranks = this.ranks;
    const indices = this.indices;
    while (position > 0) {
      const parent = (position - 1) >> 1;
      if (!this.isWorse(rank, index, ranks[parent]!, indices[parent]!)) break;
      ranks[position] = ranks[parent]!;
      indices[position] = indices[parent]!;
      position = parent;
    }
    ranks[position] = rank;
    indices[position] = index;
  }

  private siftDown(position: number, rank: number, index: number): void {
    const ranks = this.ranks;
    const indices = this.indices;
    const size = this.size;
    for (;;) {
      const left = 2 * position + 1;
      if (left >= size) break;
      const right = left + 1;
      const child =
        right < size && this.isWorse(ranks[right]!, indices[right]!, ranks[left]!, indices[left]!) ? right : left;
      if (!this.isWorse(ranks[child]!, indices[child]!, rank, index)) break;
      ranks[position] = ranks[child]!;
      indices[position] = indices[child]!;
      position = child;
    }
    ranks[position] = rank;
    indices[position] = index;
  }
}
