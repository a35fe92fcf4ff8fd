// Every program in examples/ runs as README says (`npx tsx examples/<name>.ts`; word-count through
// `ringflow run`), exits 0 and prints what it is there to show. Each runs in a temporary folder,
// where the examples that write files put them, and serves or starts nats-server on loopback only.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = join(root, 'node_modules/.bin/tsx');
const workDir = mkdtempSync(join(tmpdir(), 'ringflow-examples-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `command args` in the temporary folder; killed past `timeoutMs`. */
function run(command: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
  const child = spawn(command, args, { cwd: workDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ...out });
    }),
  );
}

const example = (name: string, env?: Record<string, string>) => run(tsx, [join(root, 'examples', `${name}.ts`)], env);

/** Fails with what the program printed, so a broken example says why. */
function expectClean(r: Run): void {
  expect(r.signal, `killed (timed out)\n${r.stdout}\n${r.stderr}`).toBeNull();
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
}

describe('examples', () => {
  it('clicks-per-user: the plan, per-user windows, a late click reported, the counters', { timeout: 90_000 }, async () => {
    const r = await example('clicks-per-user');
    expectClean(r);
    expect(r.stdout).toMatch(/#1 worker ×2: filter/);
    expect(r.stdout).toMatch(/user\d \[0, 1000\): \{ clicks: \d+, meanScore: 0\.\d+ \}/);
    expect(r.stdout).toMatch(/late \(late\) from windowAggregate/);
    expect(r.stdout).toMatch(/records per stage: \{ filter: \d+, windowAggregate: \d+ \}/);
  });

  it('ring: 1 M frames to a worker, summed there', { timeout: 90_000 }, async () => {
    const r = await example('ring');
    expectClean(r);
    expect(r.stdout).toMatch(/1 M frames in \d+ ms; the worker summed ids to 499999500000/);
  });

  it('sage-flow: two runs of 100 vectors with their top-3 matches', { timeout: 90_000 }, async () => {
    const r = await example('sage-flow');
    expectClean(r);
    expect(r.stdout).toContain('run 0: 100 vectors');
    expect(r.stdout).toContain('run 1: 100 vectors');
    expect(r.stdout).toMatch(/uid 0 @\d+: item-\d+ \(0\.\d{3}\), item-\d+/);
  });

  it('services: a worker service called from the main thread and from operators', { timeout: 90_000 }, async () => {
    const r = await example('services');
    expectClean(r);
    expect(r.stdout).toContain('apples in stock: 50');
    expect(r.stdout).toContain('accepted 70 of 100 orders');
    expect(r.stdout).toMatch(/state: 'running'[\s\S]*errors: 0/);
  });

  it('state: orders from a file into checkpointed tables', { timeout: 90_000 }, async () => {
    const r = await example('state', { ORDERS: '20000' });
    expectClean(r);
    expect(r.stdout).toMatch(/done in [\d.]+ s: \d+ checkpoints \(last id \d+\), 0 restarts/);
    expect(r.stdout).toMatch(/users: 10000; output: .*totals\.jsonl/);
  });

  it('serve: sync answers, a filtered body answered [], async then fetch', { timeout: 90_000 }, async () => {
    const r = await example('serve', { PORT: '0' });
    expectClean(r);
    expect(r.stdout).toMatch(/serving on http:\/\/127\.0\.0\.1:\d+/);
    expect(r.stdout).toMatch(/amount: 900,\s+risk: 0\.\d+,\s+flagged: true/);
    expect(r.stdout).toContain('[ 200, [] ]');
    expect(r.stdout).toContain("202 { id: 'pay-42' }");
    expect(r.stdout).toMatch(/inFlight: 0/);
  });

  it('jetstream: two processes share a durable consumer; every order gets its receipt', { timeout: 120_000 }, async () => {
    const r = await example('jetstream', { ORDERS: '2000' });
    expectClean(r);
    const split = /2000 receipts in \d+ ms; process a made (\d+), process b (\d+)/.exec(r.stdout);
    expect(split, r.stdout).not.toBeNull();
    expect(Number(split![1]) + Number(split![2])).toBe(2000);
  });

  it('word-count: an app run by `ringflow run` to its end', { timeout: 90_000 }, async () => {
    const r = await run(process.execPath, [join(root, 'bin/ringflow.mjs'), 'run', join(root, 'examples/word-count.ts'), '--workers', '2'], { WORDS: '20000' });
    expectClean(r);
    expect(r.stdout).toMatch(/done · sources: sentences 20000 · sinks: totals \d+ · failures: 0/);
  });
});
