/**
 * What metrics cost a pipeline (issue 13): plain objects map → filter → sink on 2 workers, run
 * alternately without metrics and with the metrics server up and scraped every 100 ms from another
 * process (as a Prometheus with a short interval would, with the live page's SSE stream open too).
 * Runs alternate so that the box's drift hits both sides alike; each side's figure is its median.
 */
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMetricsServer } from '../../src/metrics/index.js';
import { StreamEnvironment } from '../../src/stream/index.js';
import { type Figures, type Suite, type SuiteContext } from '../lib/suite.js';
import { records, type Rec } from './records.js';


/**
 * A scraper in a process of its own that lives as long as the suite, as Prometheus outlives the
 * jobs it scrapes: every 100 ms it GETs /metrics at the one port every run's server listens on
 * (refused while no server is up), keeps the live page's event stream open whenever there is a
 * server, and prints how many scrapes succeeded when its stdin closes. (Started anew for each run,
 * its own start-up — ~50 ms of a core — landed inside the measured runs and cost them 5-10%.)
 */
const SCRAPER = `
const http = require('node:http');
const [base] = process.argv.slice(1);
let scrapes = 0;
let events;
const timer = setInterval(() => http.get(base + '/metrics', (res) => {
  res.resume();
  res.on('end', () => scrapes++);
  if (!events) events = http.get(base + '/events', (s) => { s.resume(); s.on('close', () => (events = undefined)); }).on('error', () => (events = undefined));
}).on('error', () => {}), 100);
process.stdin.on('end', () => { clearInterval(timer); process.stdout.write(String(scrapes)); process.exit(0); });
process.stdin.resume();
`;

function startScraper(port: number): { scrapes(): Promise<number> } {
  const child = spawn(process.execPath, ['-e', SCRAPER, `http://127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    scrapes: async () => {
      child.stdin.end();
      await exited;
      return Number(out) || 0;
    },
  };
}

/** A free loopback port for every run's metrics server. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function once(input: Rec[], port: number, withMetrics: boolean): Promise<number> {
  let received = 0;
  const env = new StreamEnvironment({ workers: 2 });
  env
    .fromIterable(input)
    .map((r: Rec) => ({ i: r.i, user: r.user, score: r.score * 2, tags: r.tags }))
    .filter((r: Rec) => r.score > 0.5)
    .sink(() => void received++);
  const server = withMetrics ? await startMetricsServer({ env, port }) : undefined;
  // Both sides start alike: a scrape and the event stream have found the server before the run.
  await new Promise((r) => setTimeout(r, 250));
  const t0 = performance.now();
  await env.execute();
  const ms = performance.now() - t0;
  await server?.close();
  await env.close();
  if (received === 0) throw new Error('the sink received nothing');
  return ms;
}

async function measure(ctx: SuiteContext): Promise<void> {
  const input = records(ctx.quick ? 50_000 : 500_000);
  const port = await freePort();
  const scraper = startScraper(port);
  await once(input, port, false); // warm-up: deployment, JIT
  await once(input, port, true);
  const off: number[] = [];
  const on: number[] = [];
  // Each on-run is compared with the off-run next to it (their order alternates), so the box's
  // slow drift and the other tenants' bursts hit a pair alike; the goal is the median pair.
  const pairRatios: number[] = [];
  for (let i = 0; i < (ctx.quick ? 2 : 10); i++) {
    const offFirst = i % 2 === 0;
    const a = await once(input, port, !offFirst);
    const b = await once(input, port, offFirst);
    const [offMs, onMs] = offFirst ? [a, b] : [b, a];
    off.push(offMs);
    on.push(onMs);
    pairRatios.push(offMs / onMs);
  }
  const scrapes = await scraper.scrapes();
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  for (const [id, label, ms] of [
    ['metrics.off', 'objects map → filter → sink, 2 workers, no metrics server', off],
    ['metrics.on', 'the same with /metrics scraped every 100 ms and the live page open', on],
  ] as const) {
    ctx.report({ id, label, kind: 'throughput', unit: 'rec/s', value: (input.length * 1000) / median(ms), p50: median(ms), min: Math.min(...ms), max: Math.max(...ms), samples: ms.length, detail: { iterationMs: ms, itemsPerIteration: input.length, ...(id === 'metrics.on' ? { pairRatios, medianPairRatio: median(pairRatios) } : {}) } });
  }
  ctx.log(`metrics: ${scrapes} scrapes in all (the runs with a server, warm-up included); on/off per adjacent pair: ${pairRatios.map((r) => r.toFixed(3)).join(' ')}`);
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
