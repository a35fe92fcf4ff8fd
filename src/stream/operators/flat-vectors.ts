import { InvalidArgumentError } from '../../errors.js';
import type { VectorDType } from '../../codec/dtype.js';
import {
  cosineFromParts,
  dotAt,
  l2SimilarityFromSquared,
  normAt,
  requireDim,
  squaredL2At,
  type SimilarityMetric,
  type VectorArray,
} from './vector-math.js';
import { requirePositiveInteger } from './validate.js';

/** A vector with its identity: the input of the vector operators. */
export interface VectorItem<Id> {
  readonly id: Id;
  /** Read during `process` only, never kept: it may be a view over ring memory. */
  readonly vector: VectorArray;
}

const METRICS: readonly SimilarityMetric[] = ['l2', 'cosine', 'dot'];

export function requireMetric(metric: unknown): SimilarityMetric {
  if (!METRICS.includes(metric as SimilarityMetric)) {
    throw new InvalidArgumentError(`metric must be one of ${METRICS.map((m) => `'${m}'`).join(', ')}, got ${String(metric)}`);
  }
  return metric as SimilarityMetric;
}

export function requireDType(dtype: unknown): VectorDType {
  if (dtype !== 'Float32' && dtype !== 'Float64') {
    throw new InvalidArgumentError(`dtype must be 'Float32' or 'Float64', got ${String(dtype)}`);
  }
  return dtype;
}

/**
 * Fixed-capacity vectors stored back to back in one typed array, each with its norm computed once
 * from the stored values (so cosine costs one dot product per comparison). Float32 storage halves
 * memory and bandwidth; a Float64 input is rounded when stored.
 */
export class FlatVectors {
  readonly dim: number;
  readonly capacity: number;
  readonly data: VectorArray;
  readonly norms: Float64Array;

  constructor(dim: number, capacity: number, dtype: VectorDType = 'Float32') {
    this.dim = requirePositiveInteger('dim', dim);
    this.capacity = requirePositiveInteger('capacity', capacity);
    const length = this.dim * this.capacity;
    this.data = requireDType(dtype) === 'Float64' ? new Float64Array(length) : new Float32Array(length);
    this.norms = new Float64Array(this.capacity);
  }

  /** Copies `vector` into `slot`; throws ERR_DIM_MISMATCH on a vector of another length. */
  set(slot: number, vector: VectorArray): void {
    requireDim(vector, this.dim);
    const offset = slot * this.dim;
    this.data.set(vector, offset);
    this.norms[slot] = normAt(this.data, offset, this.dim);
  }

  /**
   * Similarity of `query` (of length dim, with norm `queryNorm`) to the vector in `slot`. Higher is
   * more similar for every metric; 'l2' is exp(-0.1 · distance).
   */
  similarity(metric: SimilarityMetric, query: VectorArray, queryNorm: number, slot: number): number {
    const offset = slot * this.dim;
    switch (metric) {
      case 'l2':
        return l2SimilarityFromSquared(squaredL2At(query, 0, this.data, offset, this.dim));
      case 'cosine':
        return cosineFromParts(dotAt(query, 0, this.data, offset, this.dim), queryNorm, this.norms[slot]!);
      case 'dot':
        return dotAt(query, 0, this.data, offset, this.dim);
    }
  }
}
