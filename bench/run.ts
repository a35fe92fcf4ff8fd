/**
 * Benchmark driver: `npm run bench [-- --quick] [-- <filter>...]`.
 *
 *   --quick            fewer, shorter iterations (smoke run)
 *   --filter <s>, <s>  run suites whose name contains <s> (several allowed), plus their baselines
 *   --list             list suites and exit
 *   --out <path>       where to write the results (default bench/results.json)
 *   --strict           exit with 1 when a goal fails (a failing suite always exits 1)
 *
 * Suites run one after another in this process; figures, ratios and goals go to the console
 * table and to the results file.
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { evaluate, machineInfo, render, writeResults, type SuiteOutcome } from './lib/report.js';
import type { Figure, Suite, SuiteContext } from './lib/suite.js';
import { suites as registry } from './suites/index.js';

const { values, positionals } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    filter: { type: 'string', multiple: true, default: [] },
    list: { type: 'boolean', default: false },
    out: { type: 'string' },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: true,
});

if (values.help) {
  console.log('usage: npm run bench -- [--quick] [--strict] [--list] [--out file] [--filter name]... [name]...');
  process.exit(0);
}
if (values.list) {
  for (const s of registry) console.log(`${s.name.padEnd(24)} ${s.title}${s.baselines?.length ? `  (baselines: ${s.baselines.join(', ')})` : ''}`);
  process.exit(0);
}

const filter = [...values.filter!, ...positionals];
const byName = new Map(registry.map((s) => [s.name, s]));

function select(): Suite[] {
  const chosen = filter.length === 0 ? registry : registry.filter((s) => filter.some((f) => s.name.includes(f)));
  if (chosen.length === 0) {
    console.error(`no suite matches ${filter.join(', ')}; suites: ${registry.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const wanted = new Set<string>();
  const add = (s: Suite, path: string[]) => {
    if (path.includes(s.name)) throw new Error(`baseline cycle: ${[...path, s.name].join(' → ')}`);
    for (const b of s.baselines ?? []) {
      const dep = byName.get(b);
      if (!dep) throw new Error(`suite ${s.name} names an unknown baseline ${b}`);
      add(dep, [...path, s.name]);
    }
    wanted.add(s.name);
  };
  for (const s of chosen) add(s, []);
  // Registry order, but a baseline before every suite that needs it.
  const ordered: Suite[] = [];
  const place = (s: Suite) => {
    if (ordered.includes(s)) return;
    for (const b of s.baselines ?? []) place(byName.get(b)!);
    ordered.push(s);
  };
  for (const s of registry) if (wanted.has(s.name)) place(s);
  return ordered;
}

async function main(): Promise<number> {
  const selected = select();
  const started = new Date();
  const machine = machineInfo();
  const t0 = performance.now();
  const figures = new Map<string, Figure>();
  const outcomes: SuiteOutcome[] = [];
  console.log(
    `ringflow bench — node ${process.version}, ${machine.cpuModel} ×${machine.cpus}, load ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}` +
      `${values.quick ? ', QUICK' : ''}\nsuites: ${selected.map((s) => s.name).join(', ')}\n`,
  );
  for (const suite of selected) {
    const s0 = performance.now();
    const loadAverageAtStart = loadavg();
    console.log(`▶ ${suite.name}: ${suite.title} (load ${loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')})`);
    const ctx: SuiteContext = {
      quick: values.quick!,
      report(figure) {
        if (figures.has(figure.id)) throw new Error(`figure id ${figure.id} reported twice`);
        const full: Figure = { ...figure, suite: suite.name };
        figures.set(full.id, full);
        const shown = full.kind === 'latency' ? `${full.statistic ?? 'p50'} ${full.value.toFixed(2)} ${full.unit}${full.p99 !== undefined && full.statistic !== 'p99' ? `, p99 ${full.p99.toFixed(2)} ${full.unit}` : ''}` : `${(full.value / 1e6).toFixed(3)} M ${full.unit}`;
        console.log(`    ${full.label}: ${shown}`);
      },
      log: (m) => console.log(`    ${m}`),
    };
    try {
      await suite.run(ctx);
      outcomes.push({ name: suite.name, title: suite.title, ok: true, durationMs: performance.now() - s0, loadAverageAtStart });
    } catch (e) {
      const err = e as Error;
      console.error(`  ✗ ${suite.name} failed: ${err?.stack ?? String(e)}`);
      outcomes.push({
        name: suite.name,
        title: suite.title,
        ok: false,
        error: String(err?.message ?? e),
        durationMs: performance.now() - s0,
        loadAverageAtStart,
      });
    }
  }
  const all = [...figures.values()];
  const { ratios, goals } = evaluate(selected, figures);
  console.log('\n' + render(outcomes, all, ratios, goals) + '\n');
  // bench/results.json in the source tree, whether this runs from source or compiled (dist/bench).
  const out = values.out ?? fileURLToPath(new URL(import.meta.url.endsWith('.js') ? '../../bench/results.json' : './results.json', import.meta.url));
  const durationMs = performance.now() - t0;
  writeResults(out, { date: started, machine, quick: values.quick!, filter, durationMs }, outcomes, all, ratios, goals);
  console.log(`results written to ${out} (${(durationMs / 1000).toFixed(1)} s)`);
  if (outcomes.some((o) => !o.ok)) return 1;
  if (values.strict && goals.some((g) => g.status === 'fail')) return 1;
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
