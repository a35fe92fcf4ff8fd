// Scratch: per-thread CPU of the state bench's job (and the hand-written one), sampled from /proc/self/task.
// npm run build && [PLAIN=1] [HAND=1] node dist/bench/_scratch/state-threads.js
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runHandWritten, runPipeline } from '../lib/state-job.js';
import { startOfThisMinute, writeOrders } from '../../test/helpers/orders-workload.js';

const peak = new Map<string, { comm: string; first: number; ticks: number }>();
function sample(): void {
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]);
      const p = peak.get(tid);
      if (p) p.ticks = ticks;
      else peak.set(tid, { comm, first: ticks, ticks });
    } catch {}
  }
}
const dir = mkdtempSync(path.join(tmpdir(), 'rf-state-threads-'));
const orders = path.join(dir, 'orders.jsonl');
await writeOrders(orders, { count: 1_000_000, users: 100_000, t0: startOfThisMinute() });
const run = (i: number) =>
  process.env.HAND === '1'
    ? runHandWritten(orders, path.join(dir, 'out.jsonl'), path.join(dir, `hand${i}`, 'changelog'))
    : runPipeline(orders, path.join(dir, 'out.jsonl'), process.env.PLAIN === '1' ? undefined : path.join(dir, `state${i}`));
await run(0);
const rounds = Number(process.env.ROUNDS ?? 3);
for (let i = 1; i <= rounds; i++) {
  peak.clear();
  sample();
  const timer = setInterval(sample, 20);
  const t0 = performance.now();
  await run(i);
  const wall = (performance.now() - t0) / 1000;
  clearInterval(timer);
  sample();
  let total = 0;
  const lines: string[] = [];
  for (const [tid, p] of peak) {
    const d = p.ticks - p.first;
    total += d;
    if (d > 2) lines.push(`  ${tid} ${p.comm.padEnd(16)} ${(d / 100).toFixed(2)} s`);
  }
  console.log(`run ${i}: ${wall.toFixed(2)} s, ${(1e6 / wall / 1000).toFixed(0)} k events/s, cpu ${(total / 100).toFixed(2)} s (${((total / 100 / wall) * 50).toFixed(0)}% of 2 cores)`);
  console.log(lines.join('\n'));
}
rmSync(dir, { recursive: true, force: true });
