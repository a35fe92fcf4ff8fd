import { DimensionMismatchError } from '../../codec/errors.js';
import type { VectorArray } from '../../codec/dtype.js';

// Vector math shared by the similarity join and top-k. The *At forms read `dim` elements from an
// offset, so operators can compare against vectors stored back to back in one flat typed array
// without making subarray views. Every operator computes a score with exactly these functions, in
// the same order of operations, so a brute-force reference built on the plain forms gets the very
// same floating-point values.

export type { VectorArray };

/** 'l2': similarity exp(-0.1 · euclidean distance), in (0, 1]. 'cosine': in [-1, 1]. 'dot': the raw dot product. */
export type SimilarityMetric = 'l2' | 'cosine' | 'dot';

export function dotAt(a: VectorArray, aOffset: number, b: VectorArray, bOffset: number, dim: number): number {
  let sum = 0;
  for (let i = 0; i < dim; i++) sum += a[aOffset + i]! * b[bOffset + i]!;
  return sum;
}

export function squaredL2At(a: VectorArray, aOffset: number, b: VectorArray, bOffset: number, dim: number): number {
  let sum = 0;
  for (let i = 0; i < dim; i++) {
    const d = a[aOffset + i]! - b[bOffset + i]!;
    sum += d * d;
  }
  return sum;
}

export function normAt(a: VectorArray, offset: number, dim: number): number {
  return Math.sqrt(dotAt(a, offset, a, offset, dim));
}

/** exp(-0.1 · d): the 'l2' similarity of two vectors at euclidean distance d. */
export function l2SimilarityFromSquared(squaredDistance: number): number {
  return Math.exp(-0.1 * Math.sqrt(squaredDistance));
}

/** Cosine from a dot product and the two norms; 0 when either vector is zero (no direction, no similarity). */
export function cosineFromParts(dotProduct: number, normA: number, normB: number): number {
  const denominator = normA * normB;
  return denominator === 0 ? 0 : dotProduct / denominator;
}

export function requireDim(vector: VectorArray, dim: number, what = 'vector'): void {
  if (vector.length !== dim) throw new DimensionMismatchError(dim, vector.length, what);
}

export function dot(a: VectorArray, b: VectorArray): number {
  requireDim(b, a.length);
  return dotAt(a, 0, b, 0, a.length);
}

export function norm(a: VectorArray): number {
  return normAt(a, 0, a.length);
}

export function l2Distance(a: VectorArray, b: VectorArray): number {
  requireDim(b, a.length);
  return Math.sqrt(squaredL2At(a, 0, b, 0, a.length));
}

export function l2Similarity(a: VectorArray, b: VectorArray): number {
  requireDim(b, a.length);
  return l2SimilarityFromSquared(squaredL2At(a, 0, b, 0, a.length));
}

export function cosineSimilarity(a: VectorArray, b: VectorArray): number {
  requireDim(b, a.length);
  return cosineFromParts(dotAt(a, 0, b, 0, a.length), norm(a), norm(b));
}

/** The similarity of two vectors under a metric (higher is more similar for all three). */
export function similarity(metric: SimilarityMetric, a: VectorArray, b: VectorArray): number {
  switch (metric) {
    case 'l2':
      return l2Similarity(a, b);
    case 'cosine':
      return cosineSimilarity(a, b);
    case 'dot':
      return dot(a, b);
  }
}
