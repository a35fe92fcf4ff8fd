/** A fraud-score model as a worker service: a few weights, a logistic score. */
export class Scorer {
  private readonly weights: Record<string, number>;
  constructor(options: { weights?: Record<string, number> } = {}) {
    this.weights = options.weights ?? { amount: 0.004, foreign: 1.5, night: 0.8 };
  }

  score(features: Record<string, number>): number {
    let z = -3;
    for (const [name, w] of Object.entries(this.weights)) z += w * (features[name] ?? 0);
    return 1 / (1 + Math.exp(-z));
  }
}
