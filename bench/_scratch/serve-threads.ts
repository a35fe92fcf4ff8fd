// Scratch: per-thread CPU of ringflow serve under wrk, from /proc/self/task (Linux; wrk installed).
// npm run build && [TRIVIAL=1] [ITERS=25000] node dist/bench/_scratch/serve-threads.js
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serve } from '../../src/serve/index.js';
import { StreamEnvironment } from '../../src/stream/index.js';

function threads(): Map<string, { comm: string; ticks: number }> {
  const out = new Map<string, { comm: string; ticks: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { comm, ticks: Number(f[11]) + Number(f[12]) });
    } catch {}
  }
  return out;
}
const iters = Number(process.env.ITERS ?? 25000);
const seconds = Number(process.env.SECONDS ?? 6);
const env = new StreamEnvironment({ workers: 2 });
const trivial = process.env.TRIVIAL === '1';
const server = trivial
  ? await serve(env, (requests) => requests.map((b: { id: number; x: number }) => ({ id: b.id, score: b.x * 2 + 1 })).filter((r: { score: number }) => r.score >= 0), { port: 0, requestTimeoutMs: 10_000 })
  : await serve(env, (requests) => requests.map((b: { id: number; x: number; iters: number }) => {
  let s = b.x;
  for (let i = 0; i < b.iters; i++) s = Math.sqrt(s * s + i) * 0.999;
  return { id: b.id, score: s };
}, { parallelism: 2 }).filter((r: { score: number }) => r.score >= 0), { port: 0, requestTimeoutMs: 10_000 });
const url = `${server.url}/v1/process/sync`;
const lua = fileURLToPath(new URL('../../../bench/workers/wrk-post.lua', import.meta.url));
const run = (sec: number) => new Promise<string>((resolve) => {
  const c = spawn('wrk', ['-t1', '-c64', `-d${sec}s`, '--timeout', '10s', '-s', lua, url], { env: { ...process.env, WRK_BODY: JSON.stringify({ id: 1, x: 3, iters }) } });
  let o = ''; c.stdout.on('data', (d) => (o += d)); c.on('exit', () => resolve(o));
});
await run(1);
// wrk's CPU: the children's times in /proc/self/stat once it has been reaped.
const childTicks = () => { const s = readFileSync('/proc/self/stat', 'utf8'); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); return Number(f[13]) + Number(f[14]); };
const k0 = childTicks();
// The box's idle time: /proc/stat's idle + iowait, over all CPUs.
const idleTicks = () => { const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number); return { idle: f[3]! + f[4]!, all: f.reduce((a, b) => a + b, 0) }; };
const i0 = idleTicks();
const t0 = threads(); const c0 = process.cpuUsage(); const w0 = performance.now();
const inFlight: number[] = [];
const sampler = process.env.SAMPLE ? setInterval(() => {
  const job = env.metrics().job;
  if (!job) return;
  const src = Object.values(job.sources).reduce((a, b) => a + b, 0);
  const snk = Object.values(job.sinks).reduce((a, b) => a + b, 0);
  inFlight.push(src - snk);
}, 2) : undefined;
const out = await run(seconds);
if (sampler) {
  clearInterval(sampler);
  const h = new Map<number, number>();
  for (const v of inFlight) { const b = Math.min(64, Math.floor(v / 8) * 8); h.set(b, (h.get(b) ?? 0) + 1); }
  console.log('in pipeline (sources - sinks), share of', inFlight.length, 'samples:', [...h].sort((a, b) => a[0] - b[0]).map(([b, n]) => `${b}-${b + 7}: ${(100 * n / inFlight.length).toFixed(0)}%`).join(', '));
}
const t1 = threads(); const cpu = process.cpuUsage(c0); const wall = (performance.now() - w0) / 1000;
const last = JSON.parse(out.trim().split('\n').pop()!);
await new Promise((r) => setTimeout(r, 50));
const wrkTicks = childTicks() - k0;
const i1 = idleTicks();
console.log(`box idle ${((100 * (i1.idle - i0.idle)) / (i1.all - i0.all)).toFixed(1)}% of its CPU time`);
const n = last.requests;
console.log(`req/s ${(n / (last.durationUs / 1e6)).toFixed(0)}, cpu/req ${((cpu.user + cpu.system) / n).toFixed(1)} µs, p50 ${last.p50} ms; server ${((cpu.user + cpu.system) / 1e6 / wall).toFixed(2)} cores, wrk ${(wrkTicks / 100 / wall).toFixed(2)} cores (${(wrkTicks * 1e4 / n).toFixed(1)} µs/req)`);
for (const [tid, a] of t1) {
  const b = t0.get(tid); const d = a.ticks - (b?.ticks ?? 0);
  if (d > 2) console.log(`  ${tid} ${a.comm.padEnd(16)} ${(d / 100 / wall * 100).toFixed(1)}% core, ${(d * 10000 / n).toFixed(1)} µs/req`);
}
await server.close();
