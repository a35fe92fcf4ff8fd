/**
 * Issue 14's consistency check at full size: a 1 M-order JSONL file (100 k users) through
 * fromFile → keyBy(user) → tables → toFile, the whole process SIGKILLed at KILLS random points
 * (each 0-1500 ms after it reports a new checkpoint) and restarted each time, then run to the end.
 * The final tables must equal a linear single-thread rebuild and totals.jsonl must hold every
 * derived record exactly once. (test/state-files.test.ts does the same at 100 k orders, 4 kills.)
 *
 *   npx tsx scripts/state-kill.ts            # ORDERS=1000000 KILLS=10 by default
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkOutput, diffTables, linearRun, startOfThisMinute, writeOrders } from '../test/helpers/orders-workload.js';

const ORDERS = Number(process.env.ORDERS ?? 1_000_000);
const KILLS = Number(process.env.KILLS ?? 10);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const job = path.join(root, 'test/fixtures/orders-job.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'ringflow-state-kill-'));
const workload = { count: ORDERS, users: Math.max(1, Math.floor(ORDERS / 10)), t0: startOfThisMinute() };
const orders = path.join(dir, 'orders.jsonl');
await writeOrders(orders, workload);

function run(delayMs: number | undefined): Promise<{ killed: boolean; checkpoints: number; lines: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', job, orders, path.join(dir, 'state'), path.join(dir, 'totals.jsonl'), path.join(dir, 'tables.json'), '1000'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let checkpoints = 0;
    let killing = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = [...out.matchAll(/^checkpoints (\d+)$/gm)].at(-1);
      checkpoints = m ? Number(m[1]) : 0;
      if (delayMs !== undefined && checkpoints > 0 && !killing) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL' && killing) resolve({ killed: true, checkpoints, lines: out });
      else if (code === 0) resolve({ killed: false, checkpoints, lines: out });
      else reject(new Error(`the job exited with ${code ?? signal}:\n${out}`));
    });
  });
}

const started = performance.now();
const log: string[] = [];
for (let k = 0; ; k++) {
  const delay = k < KILLS ? Math.floor(Math.random() * 1500) : undefined;
  const r = await run(delay);
  const warnings = r.lines.split('\n').filter((l) => l.startsWith('warning')).length;
  log.push(`${r.killed ? `killed ${delay} ms after checkpoint` : 'finished after'} ${r.checkpoints}${warnings ? ` (${warnings} recovery warnings)` : ''}`);
  console.log(`run ${k + 1}: ${log.at(-1)}`);
  if (!r.killed) break;
}
const linear = linearRun(workload);
const raw = JSON.parse(readFileSync(path.join(dir, 'tables.json'), 'utf8')) as { totals: [string, number][]; perMinute: [string, number][] };
const tableProblems = diffTables({ totals: new Map(raw.totals), perMinute: new Map(raw.perMinute) }, linear);
const outputProblems = await checkOutput(path.join(dir, 'totals.jsonl'), linear.derived);
console.log(`${ORDERS} orders, ${KILLS} kills, ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
console.log(`tables: ${tableProblems.length === 0 ? `equal to the linear rebuild (${linear.totals.size} totals, ${linear.perMinute.size} per-minute windows)` : tableProblems.join('; ')}`);
console.log(`totals.jsonl: ${outputProblems.length === 0 ? `every one of the ${ORDERS} derived records exactly once` : outputProblems.join('; ')}`);
rmSync(dir, { recursive: true, force: true });
process.exit(tableProblems.length + outputProblems.length === 0 ? 0 : 1);
