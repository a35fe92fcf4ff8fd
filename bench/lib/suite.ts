/**
 * What a benchmark suite is, and what it reports. A suite is one file in bench/suites that exports
 * a `Suite`; bench/suites/index.ts lists them. A suite measures, then reports `Figure`s; its
 * `ratios` and `goals` are evaluated by the driver once every selected suite has run, so a ratio
 * may refer to figures of the suite's `baselines` (other suites, run in the same process).
 */

export type FigureKind = 'throughput' | 'latency';

export interface Figure {
  /** Globally unique, stable across runs (results.json consumers key on it), e.g. 'oneway.ring.tryWrite'. */
  id: string;
  /** Name of the suite that reported it (filled in by the driver). */
  suite: string;
  label: string;
  kind: FigureKind;
  /** Throughput: items per second. Latency: microseconds (p50). */
  value: number;
  /** 'rec/s', 'frames/s', 'msg/s' for throughput; 'µs' for latency. */
  unit: string;
  /** Latency figures: distribution in µs. Throughput figures: per-iteration latency in ms. */
  mean?: number;
  p50?: number;
  p99?: number;
  min?: number;
  max?: number;
  /** Relative margin of error of the mean, in % (tinybench), when known. */
  rme?: number;
  samples?: number;
  /** What `value` is, for the table: 'p50' (the default for latencies), 'p99', 'max' … */
  statistic?: string;
  /** Anything else worth keeping in results.json (items per iteration, alternative estimates, ...). */
  detail?: Record<string, unknown>;
}

export type FigureInput = Omit<Figure, 'suite'>;

/** Read access to every figure reported so far in this run. */
export type Figures = ReadonlyMap<string, Figure>;

export interface RatioDef {
  id: string;
  label: string;
  /** The ratio, or undefined when a figure it needs was not measured in this run. */
  compute(figures: Figures): number | undefined;
  /** Shown after the number; '×' by default. */
  unit?: string;
}

export interface GoalDef {
  id: string;
  label: string;
  value(figures: Figures): number | undefined;
  op: '>=' | '<=';
  target: number;
  unit: string;
  /** Extra words for the table (e.g. which variant was the best). */
  note?(figures: Figures): string;
}

export interface SuiteContext {
  /** --quick: fewer and shorter iterations, for smoke runs. */
  readonly quick: boolean;
  report(figure: FigureInput): void;
  log(message: string): void;
}

export interface Suite {
  /** Short kebab-case name; the CLI filter matches it. */
  name: string;
  title: string;
  /** Suites whose figures this one's ratios and goals need; the driver runs them too (first). */
  baselines?: string[];
  run(ctx: SuiteContext): Promise<void>;
  ratios?: RatioDef[];
  goals?: GoalDef[];
}

export function quotient(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** A ratio `a / b` of two figures' headline values. */
export function ratio(id: string, label: string, a: string, b: string, unit = '×'): RatioDef {
  return { id, label, unit, compute: (f) => quotient(f.get(a)?.value, f.get(b)?.value) };
}

/** The best (largest for throughput, smallest for latency) headline value among `ids` that were measured. */
export function best(figures: Figures, ids: readonly string[]): number | undefined {
  let out: number | undefined;
  for (const id of ids) {
    const fig = figures.get(id);
    if (!fig) continue;
    if (out === undefined) out = fig.value;
    else out = fig.kind === 'latency' ? Math.min(out, fig.value) : Math.max(out, fig.value);
  }
  return out;
}

/** The id (among `ids`) of the best measured figure. */
export function bestId(figures: Figures, ids: readonly string[]): string | undefined {
  const v = best(figures, ids);
  return v === undefined ? undefined : ids.find((id) => figures.get(id)?.value === v);
}
