/**
 * What metrics cost a pipeline (issue 13): plain objects map → filter → sink on 2 workers, run
 * alternately without metrics and with the metrics server up and scraped every 100 ms from another
 * process (as a Prometheus with a short interval would, with the live page's SSE stream open too).
 * Runs alternate so that the box's drift hits both sides alike; each side's figure is its median.
 */
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { startMetricsServer } from '../../src/metrics/index.js';
import { StreamEnvironment } from '../../src/stream/index.js';
import { type Figures, type Suite, type SuiteContext } from '../lib/suite.js';
import { records, type Rec } from './records.js';


/**
 * A scraper in a process of its own, as Prometheus is: it GETs /metrics every 100 ms and keeps
 * the live page's event stream open, and prints how many scrapes it made when its stdin closes.
 */
const SCRAPER = `
const http = require('node:http');
const [base] = process.argv.slice(1);
let scrapes = 0;
http.get(base + '/events', (res) => res.resume()).on('error', () => {});
const timer = setInterval(() => http.get(base + '/metrics', (res) => { res.resume(); res.on('end', () => scrapes++); }).on('error', () => {}), 100);
process.stdin.on('end', () => { clearInterval(timer); process.stdout.write(String(scrapes)); process.exit(0); });
process.stdin.resume();
`;

function startScraper(base: string): { stop(): Promise<number> } {
  const child = spawn(process.execPath, ['-e', SCRAPER, base], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    stop: async () => {
      child.stdin.end();
      await exited;
      return Number(out) || 0;
    },
  };
}

async function once(input: Rec[], withMetrics: boolean): Promise<{ ms: number; scrapes: number }> {
  let received = 0;
  const env = new StreamEnvironment({ workers: 2 });
  env
    .fromIterable(input)
    .map((r: Rec) => ({ i: r.i, user: r.user, score: r.score * 2, tags: r.tags }))
    .filter((r: Rec) => r.score > 0.5)
    .sink(() => void received++);
  const server = withMetrics ? await startMetricsServer({ env, port: 0 }) : undefined;
  const scraper = server ? startScraper(`http://${server.address}`) : undefined;
  if (scraper) await new Promise((r) => setTimeout(r, 150)); // the child is up and scraping
  const t0 = performance.now();
  await env.execute();
  const ms = performance.now() - t0;
  const scrapes = (await scraper?.stop()) ?? 0;
  await server?.close();
  await env.close();
  if (received === 0) throw new Error('the sink received nothing');
  return { ms, scrapes };
}

async function measure(ctx: SuiteContext): Promise<void> {
  const input = records(ctx.quick ? 50_000 : 200_000);
  await once(input, false); // warm-up: deployment, JIT
  await once(input, true);
  const off: number[] = [];
  const on: number[] = [];
  // Each on-run is compared with the off-run next to it (their order alternates), so the box's
  // slow drift and the other tenants' bursts hit a pair alike; the goal is the median pair.
  const pairRatios: number[] = [];
  let scrapes = 0;
  for (let i = 0; i < (ctx.quick ? 2 : 10); i++) {
    const offFirst = i % 2 === 0;
    const a = await once(input, !offFirst);
    const b = await once(input, offFirst);
    const [offRun, onRun] = offFirst ? [a, b] : [b, a];
    off.push(offRun.ms);
    on.push(onRun.ms);
    pairRatios.push(offRun.ms / onRun.ms);
    scrapes += a.scrapes + b.scrapes;
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  for (const [id, label, ms] of [
    ['metrics.off', 'objects map → filter → sink, 2 workers, no metrics server', off],
    ['metrics.on', 'the same with /metrics scraped every 100 ms and the live page open', on],
  ] as const) {
    ctx.report({ id, label, kind: 'throughput', unit: 'rec/s', value: (input.length * 1000) / median(ms), p50: median(ms), min: Math.min(...ms), max: Math.max(...ms), samples: ms.length, detail: { iterationMs: ms, itemsPerIteration: input.length, ...(id === 'metrics.on' ? { pairRatios, medianPairRatio: median(pairRatios) } : {}) } });
  }
  ctx.log(`metrics: ${scrapes} scrapes during the measured runs; on/off per adjacent pair: ${pairRatios.map((r) => r.toFixed(3)).join(' ')}`);
}

/** The median of the adjacent on/off pairs' throughput ratios (see measure). */
const pairedCost = (f: Figures) => {
  const r = f.get('metrics.on')?.detail?.medianPairRatio;
  return typeof r === 'number' ? r : undefined;
};

export const metricsSuite: Suite = {
  name: 'metrics',
  title: 'What metrics cost: the same pipeline with and without a scraped metrics server',
  run: measure,
  ratios: [{ id: 'metrics.on.vs.off', label: 'throughput with metrics / without (median of adjacent pairs)', compute: pairedCost }],
  goals: [
    { id: 'metrics.goal.cost', label: 'metrics cost ≤ 3% of throughput (on/off ≥ 0.97)', value: pairedCost, op: '>=', target: 0.97, unit: '×' },
  ],
};
