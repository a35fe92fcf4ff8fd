/** Evaluates ratios and goals, prints the tables and writes results.json. */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { micros, millis, si, table, times } from './format.js';
import type { Figure, Figures, Suite } from './suite.js';

export interface SuiteOutcome {
  name: string;
  title: string;
  ok: boolean;
  error?: string;
  durationMs: number;
  /** os.loadavg() when the suite started: on a shared box, read its figures with this in mind. */
  loadAverageAtStart: number[];
}

export interface RatioResult {
  id: string;
  suite: string;
  label: string;
  value: number | null;
  unit: string;
}

export interface GoalResult {
  id: string;
  suite: string;
  label: string;
  value: number | null;
  op: '>=' | '<=';
  target: number;
  unit: string;
  status: 'pass' | 'fail' | 'not measured';
  note?: string;
}

export function evaluate(suites: Suite[], figures: Figures): { ratios: RatioResult[]; goals: GoalResult[] } {
  const ratios: RatioResult[] = [];
  const goals: GoalResult[] = [];
  for (const s of suites) {
    for (const r of s.ratios ?? []) {
      const v = r.compute(figures);
      ratios.push({ id: r.id, suite: s.name, label: r.label, value: v ?? null, unit: r.unit ?? '×' });
    }
    for (const g of s.goals ?? []) {
      const v = g.value(figures);
      const status = v === undefined || Number.isNaN(v) ? 'not measured' : (g.op === '>=' ? v >= g.target : v <= g.target) ? 'pass' : 'fail';
      goals.push({
        id: g.id,
        suite: s.name,
        label: g.label,
        value: v ?? null,
        op: g.op,
        target: g.target,
        unit: g.unit,
        status,
        note: g.note?.(figures),
      });
    }
  }
  return { ratios, goals };
}

function quantity(v: number, unit: string): string {
  if (unit === '×') return times(v);
  if (unit === 'µs') return micros(v);
  if (unit === 'ratio') return v.toFixed(3);
  return `${si(v)}${unit}`;
}

export function render(outcomes: SuiteOutcome[], figures: Figure[], ratios: RatioResult[], goals: GoalResult[]): string {
  const out: string[] = [];
  const rows: string[][] = [];
  for (const o of outcomes) {
    rows.push([`**${o.name}**${o.ok ? '' : ' (FAILED)'}`, '', '', '', '', '', '']);
    for (const f of figures.filter((x) => x.suite === o.name)) {
      if (f.kind === 'throughput') {
        const bestIt = f.detail?.perSecondFromBestIteration;
        rows.push([
          `  ${f.label}`,
          `${si(f.value)}${f.unit}`,
          typeof bestIt === 'number' ? `${si(bestIt)}${f.unit}` : '',
          f.mean === undefined ? '' : `${millis(f.mean)}/it`,
          f.p99 === undefined ? '' : `${millis(f.p99)}/it`,
          f.rme === undefined ? '' : `±${f.rme.toFixed(1)}%`,
          String(f.samples ?? ''),
        ]);
      } else {
        rows.push([
          `  ${f.label}`,
          f.unit === 'µs' ? `${f.statistic ?? 'p50'} ${micros(f.value)}` : `${f.statistic ? `${f.statistic} ` : ''}${f.value.toPrecision(3)} ${f.unit}`,
          f.min === undefined ? '' : micros(f.min),
          f.mean === undefined ? '' : micros(f.mean),
          f.p99 === undefined ? '' : micros(f.p99),
          f.rme === undefined ? '' : `±${f.rme.toFixed(1)}%`,
          String(f.samples ?? ''),
        ]);
      }
    }
  }
  out.push(
    table(
      [
        { title: 'suite / measurement' },
        { title: 'result', align: 'right' },
        { title: 'best it. / min', align: 'right' },
        { title: 'mean', align: 'right' },
        { title: 'p99', align: 'right' },
        { title: 'rme', align: 'right' },
        { title: 'n', align: 'right' },
      ],
      rows,
    ),
  );
  out.push('');
  out.push(
    'result: throughput = items / median iteration time (one iteration = send N, await the consumer\'s ack of all N); latency = p50.\n' +
      'best it. / min: throughput of the fastest iteration, or the fastest single operation. mean, p99: per iteration (ms/it) for throughput rows, per operation for latency rows.',
  );
  if (ratios.length) {
    out.push('');
    out.push(
      table(
        [{ title: 'ratio (same run)' }, { title: 'value', align: 'right' }],
        ratios.map((r) => [r.label, r.value === null ? 'n/a' : quantity(r.value, r.unit)]),
      ),
    );
  }
  if (goals.length) {
    out.push('');
    out.push(
      table(
        [{ title: 'goal' }, { title: 'measured', align: 'right' }, { title: 'target', align: 'right' }, { title: 'status' }, { title: 'note' }],
        goals.map((g) => [
          g.label,
          g.value === null ? 'n/a' : quantity(g.value, g.unit),
          `${g.op === '>=' ? '≥' : '≤'} ${quantity(g.target, g.unit)}`,
          g.status === 'pass' ? 'PASS' : g.status === 'fail' ? 'FAIL' : 'not measured',
          g.note ?? '',
        ]),
      ),
    );
  }
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length) {
    out.push('');
    for (const o of failed) out.push(`suite ${o.name} FAILED: ${o.error}`);
  }
  return out.join('\n');
}

function packageVersion(name: string): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    totalMemoryBytes: os.totalmem(),
    loadAverage: os.loadavg(),
  };
}

export interface ResultsFile {
  date: string;
  node: string;
  v8: string;
  packages: Record<string, string | undefined>;
  machine: ReturnType<typeof machineInfo>;
  loadAverageAtEnd: number[];
  options: { quick: boolean; filter: string[] };
  durationMs: number;
  suites: SuiteOutcome[];
  figures: Figure[];
  ratios: RatioResult[];
  goals: GoalResult[];
  summary: { goalsPassed: number; goalsFailed: number; goalsNotMeasured: number; suitesFailed: number };
}

export function writeResults(
  path: string,
  base: { date: Date; machine: ReturnType<typeof machineInfo>; quick: boolean; filter: string[]; durationMs: number },
  outcomes: SuiteOutcome[],
  figures: Figure[],
  ratios: RatioResult[],
  goals: GoalResult[],
): ResultsFile {
  const file: ResultsFile = {
    date: base.date.toISOString(),
    node: process.version,
    v8: process.versions.v8,
    packages: { piscina: packageVersion('piscina'), tinybench: packageVersion('tinybench'), flatbuffers: packageVersion('flatbuffers') },
    machine: base.machine,
    loadAverageAtEnd: os.loadavg(),
    options: { quick: base.quick, filter: base.filter },
    durationMs: base.durationMs,
    suites: outcomes,
    figures,
    ratios,
    goals,
    summary: {
      goalsPassed: goals.filter((g) => g.status === 'pass').length,
      goalsFailed: goals.filter((g) => g.status === 'fail').length,
      goalsNotMeasured: goals.filter((g) => g.status === 'not measured').length,
      suitesFailed: outcomes.filter((o) => !o.ok).length,
    },
  };
  writeFileSync(path, JSON.stringify(file, null, 2) + '\n');
  return file;
}
