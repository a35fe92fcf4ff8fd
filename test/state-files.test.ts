// Issue 14's "Must show", sized for a 2-core box: a file → tables → file job stays exact when the
// whole process is SIGKILLed and restarted, and when a worker dies inside the job (restart).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromFile, toFile } from '../src/connectors/index.js';
import { op, StreamEnvironment, type JobResult } from '../src/stream/index.js';
import { checkOutput, diffTables, linearRun, ordersPipeline, readTables, startOfThisMinute, writeOrders, type Order, type Tables } from './helpers/orders-workload.js';
import { tempStateDir } from './helpers/state.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const jobFixture = path.join(repoRoot, 'test/fixtures/orders-job.ts');
const temp = tempStateDir();
afterAll(() => temp.remove());

const workload = { count: 100_000, users: 10_000, t0: startOfThisMinute() };
const ordersFile = path.join(temp.dir, 'orders.jsonl');
let linear: ReturnType<typeof linearRun>;
beforeAll(async () => {
  await writeOrders(ordersFile, workload);
  linear = linearRun(workload);
});

interface Run {
  killed: boolean;
  checkpoints: number;
  out: string;
}

/** Runs the job process; kills it (SIGKILL) `delayMs` after it reports its first new checkpoint, or lets it finish when `delayMs` is undefined. */
function runJob(dir: string, delayMs: number | undefined): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', jobFixture, ordersFile, path.join(dir, 'state'), path.join(dir, 'totals.jsonl'), path.join(dir, 'tables.json'), '100'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let checkpoints = 0;
    let killing = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const counts = [...out.matchAll(/^checkpoints (\d+)$/gm)];
      checkpoints = counts.length > 0 ? Number(counts.at(-1)![1]) : 0;
      if (delayMs !== undefined && checkpoints > 0 && !killing) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (signal === 'SIGKILL' && killing) resolve({ killed: true, checkpoints, out });
      else if (code === 0 && out.includes('done')) resolve({ killed: false, checkpoints, out });
      else reject(new Error(`the orders job exited with ${code ?? signal}: ${err}\n${out}`));
    });
  });
}

function tablesFrom(file: string): Tables {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { totals: [string, number][]; perMinute: [string, number][] };
  return { totals: new Map(raw.totals), perMinute: new Map(raw.perMinute) };
}

describe('a file → tables → file job', () => {
  it('is exact after kill -9 at random points and restarts: tables equal a linear rebuild, every derived record once in totals.jsonl', async () => {
    const dir = path.join(temp.dir, 'killed');
    const kills = 4;
    const log: string[] = [];
    let finished: Run | undefined;
    for (let round = 0; round <= 20 && !finished; round++) {
      // A few kills at random points (0-250 ms after a checkpoint), then a run to the end.
      const run = await runJob(dir, round < kills ? Math.floor(Math.random() * 250) : undefined);
      log.push(`${run.killed ? 'killed' : 'finished'} after ${run.checkpoints} checkpoints`);
      if (!run.killed) finished = run;
    }
    expect(finished, log.join('; ')).toBeDefined();
    expect(log.filter((l) => l.startsWith('killed')).length, log.join('; ')).toBe(kills);
    expect(diffTables(tablesFrom(path.join(dir, 'tables.json')), linear)).toEqual([]);
    expect(await checkOutput(path.join(dir, 'totals.jsonl'), linear.derived)).toEqual([]);
    console.log(`orders job under kill -9: ${log.join('; ')}`);
    // ~30 s on a quiet 2-core box; each run starts a process and its workers through tsx, which the shared box made take minutes.
  }, 420_000);

  it('completes with exact tables when an operator calls process.exit every 30 000 records (restart)', async () => {
    const dir = path.join(temp.dir, 'exits');
    await mkdir(dir, { recursive: true });
    const out = path.join(dir, 'totals.jsonl');
    process.env.RINGFLOW_TEST_EXIT_DIR = dir;
    process.env.RINGFLOW_TEST_EXIT_EVERY = '30000';
    // Small rings: a checkpoint's barrier waits behind what they hold (the default 4 MiB holds most of the file).
    const env = new StreamEnvironment({ workers: 2, appId: 'exits', stateDir: path.join(dir, 'state'), checkpointIntervalMs: 100, ringCapacity: 1 << 18, restart: { maxRestarts: 10 } });
    const warnings: string[] = [];
    env.onWarning((w) => void warnings.push(w.code));
    env.table<number>('totals', { default: () => 0 });
    env.table<number>('per-minute', { default: () => 0 }).tumbling(60_000, { expiresMs: 3_600_000 });
    env
      .from(fromFile<string>(ordersFile, { format: 'lines' }))
      .map((line: string) => JSON.parse(line) as Order)
      .keyBy((o) => o.user)
      .map(op(new URL('./fixtures/orders-ops.ts', import.meta.url).href, 'updateTablesAndExit'))
      .to(toFile(out));
    const result: JobResult = await env.execute();
    // Orders 15 000, 45 000 and 75 000 each killed their worker once.
    expect(readdirSync(dir).filter((n) => n.startsWith('exit-')).sort()).toEqual(['exit-15000', 'exit-45000', 'exit-75000']);
    expect(result.checkpoints?.restarts, `warnings: ${warnings.join(', ')}`).toBe(3);
    expect(warnings.filter((w) => w === 'STATE_RESTART')).toHaveLength(3);
    expect(diffTables(await readTables(env), linear)).toEqual([]);
    expect(await checkOutput(out, linear.derived)).toEqual([]);
    await env.close();
    console.log(`process.exit in an operator: ${result.checkpoints?.restarts} restarts, ${result.checkpoints?.count} checkpoints`);
  }, 300_000);

  it('runs the same pipeline without checkpoints (no stateDir): tables and output exact', async () => {
    const dir = path.join(temp.dir, 'plain');
    await mkdir(dir, { recursive: true });
    const env = new StreamEnvironment({ workers: 2 });
    ordersPipeline(env, ordersFile, path.join(dir, 'totals.jsonl'));
    await env.execute();
    expect(diffTables(await readTables(env), linear)).toEqual([]);
    expect(await checkOutput(path.join(dir, 'totals.jsonl'), linear.derived)).toEqual([]);
    await env.close();
  }, 120_000);
});
