/** Small statistics helpers, usable from the main thread and from bench workers. */

/** Linear-interpolated quantile (0..1) of an ascending array. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface Distribution {
  mean: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
  samples: number;
}

/** Summary of samples (any unit); sorts a copy. */
export function summarize(samples: ArrayLike<number>): Distribution {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    mean: sum / sorted.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    samples: sorted.length,
  };
}

/** Scales every time field of a distribution (e.g. ms → µs). */
export function scale(d: Distribution, factor: number): Distribution {
  return { ...d, mean: d.mean * factor, p50: d.p50 * factor, p99: d.p99 * factor, min: d.min * factor, max: d.max * factor };
}
