import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../bin/ringflow.mjs', import.meta.url));
const fixture = (name: string) => `test/fixtures/cli/${name}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `ringflow …` as a user would; `during` runs while it is alive. */
function ringflow(args: string[], options: { env?: Record<string, string>; during?: (child: ReturnType<typeof spawn>, out: { stdout: string; stderr: string }) => Promise<void> } = {}): Promise<Run> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (out.stdout += d));
  child.stderr!.on('data', (d) => (out.stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const during = options.during?.(child, out).catch((error) => {
    child.kill('SIGKILL');
    throw error;
  });
  return Promise.all([exited, during]).then(([code]) => ({ code, ...out }));
}

const waitFor = async (check: () => boolean | Promise<boolean>, ms = 45_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** Parses Prometheus text format 0.0.4: every line a comment, blank, or `name{labels} value`. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|[Nn]a[Nn]|[+-]Inf)( -?\d+)?$/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    samples.set(match[1]! + (match[2] ?? ''), Number(match[3]));
  }
  return samples;
}

describe('ringflow CLI', () => {
  it('runs an app to its end, with plain progress lines when stdout is not a TTY, and exits 0', async () => {
    const run = await ringflow(['run', fixture('endless-app.ts'), '--workers', '2', '--interval', '100'], { env: { COUNT: '20000' } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\d{4}-\d\d-\d\dT.* in [\d,]+ .*out [\d,]+/m);
    expect(run.stdout).toContain('done · sources: numbers 20000 · sinks: count 20000 · failures: 0');
    expect(run.stdout).toContain('delivered=20000');
  }, 120_000);

  it('SIGINT stops the sources, drains what is in flight and exits 0; everything sent was delivered', async () => {
    const run = await ringflow(['run', fixture('endless-app.ts'), '--workers', '2', '--interval', '100'], {
      during: async (child, out) => {
        await waitFor(() => /in [1-9][\d,]{4,}/.test(out.stdout)); // at least 10 000 in
        child.kill('SIGINT');
      },
    });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('SIGINT: stopping the sources');
    const summary = /done · sources: numbers (\d+) · sinks: count (\d+)/.exec(run.stdout);
    expect(summary).not.toBeNull();
    expect(summary![1]).toBe(summary![2]);
    expect(run.stdout).toContain(`delivered=${summary![2]}`);
  }, 120_000);

  it('with --state, SIGINT checkpoints the tables and the source position; a rerun resumes and the totals are exact', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'ringflow-cli-state-'));
    try {
      const args = ['run', fixture('table-app.ts'), '--workers', '2', '--interval', '100', '--state', stateDir, '--checkpoint-interval', '200'];
      const first = await ringflow(args, {
        during: async (child, out) => {
          await waitFor(() => /in [1-9][\d,]{4,}/.test(out.stdout)); // at least 10 000 in
          child.kill('SIGINT');
        },
      });
      expect(first.stderr).toContain('SIGINT: stopping the sources');
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/checkpoints: [1-9]\d* \(last id \d+\), restarts: 0/);
      expect(existsSync(join(stateDir, 'table-app'))).toBe(true); // the app id is the module's name
      const second = await ringflow(args);
      expect(second.stderr).toBe('');
      expect(second.code).toBe(0);
      const delivered = (run: Run) => Number(/delivered=(\d+)/.exec(run.stdout)![1]);
      const latest = (run: Run) => JSON.parse(/latest=(.*)/.exec(run.stdout)![1]!) as Record<string, number>;
      // Everything before the Ctrl-C checkpoint was not read again, everything after it was read once.
      expect(delivered(first)).toBeGreaterThan(0);
      expect(delivered(first)).toBeLessThan(100_000);
      expect(delivered(first) + delivered(second)).toBe(100_000);
      // The second run's totals start from the first run's: the table came back.
      const expected: Record<string, number> = {};
      for (let i = 0; i < 100_000; i++) expected[`u${i % 50}`] = (expected[`u${i % 50}`] ?? 0) + (i % 7) + 1;
      expect({ ...latest(first), ...latest(second) }).toEqual(expected);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 180_000);

  it('--app-id and --checkpoint-interval without --state are usage errors (exit 2)', async () => {
    const run = await ringflow(['run', fixture('endless-app.ts'), '--checkpoint-interval', '500']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--app-id and --checkpoint-interval go with --state');
  }, 60_000);

  it('a second SIGINT forces the exit (130)', async () => {
    const run = await ringflow(['run', fixture('slow-sink-app.ts'), '--workers', '1', '--interval', '100'], {
      during: async (child, out) => {
        await waitFor(() => /in [1-9]/.test(out.stdout));
        child.kill('SIGINT');
        await waitFor(() => out.stderr.includes('SIGINT:'));
        child.kill('SIGINT');
      },
    });
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('SIGINT again: exiting without draining');
  }, 120_000);

  it('serves /metrics during a run: Prometheus text whose counters move and end at the job result', async () => {
    let scraped: Map<string, number> | undefined;
    let last: Map<string, number> | undefined;
    const run = await ringflow(['run', fixture('endless-app.ts'), '--metrics', '0', '--interval', '100'], {
      during: async (child, out) => {
        await waitFor(() => /metrics: http:\/\/127\.0\.0\.1:\d+\/metrics/.test(out.stderr));
        const url = /metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(out.stderr)![1]!;
        await waitFor(async () => {
          scraped = parsePrometheus(await (await fetch(url)).text());
          return (scraped.get('ringflow_sink_records_total{sink="count"}') ?? 0) > 1000;
        }, 60_000);
        const page = await (await fetch(url.replace('/metrics', '/'))).text();
        expect(page).toContain('<title>ringflow</title>');
        child.kill('SIGINT');
        // the server answers while the job drains; the last scrape before exit is ≤ the result
        try {
          last = parsePrometheus(await (await fetch(url)).text());
        } catch {
          // it may already be gone
        }
      },
    });
    expect(run.code).toBe(0);
    expect(scraped!.get('ringflow_job_running')).toBe(1);
    expect(scraped!.get('ringflow_source_records_total{source="numbers"}')).toBeGreaterThanOrEqual(scraped!.get('ringflow_sink_records_total{sink="count"}')!);
    expect([...scraped!.keys()].some((k) => k.startsWith('ringflow_stage_frames_in_total{stage="double",instance='))).toBe(true);
    expect([...scraped!.keys()].some((k) => k.startsWith('ringflow_event_loop_delay_seconds{quantile="0.99"}'))).toBe(true);
    const delivered = Number(/delivered=(\d+)/.exec(run.stdout)![1]);
    expect(run.stdout).toContain(`sinks: count ${delivered}`);
    if (last) expect(last.get('ringflow_sink_records_total{sink="count"}')!).toBeLessThanOrEqual(delivered);
  }, 120_000);

  it('bad command lines get clear messages and distinct exit codes', async () => {
    const unknownFlag = await ringflow(['run', fixture('endless-app.ts'), '--wrokers', '2']);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain("unknown option '--wrokers'");

    const badPort = await ringflow(['run', fixture('endless-app.ts'), '--metrics', 'eighty']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain("--metrics must be an integer from 0 to 65535, got 'eighty'");

    const missing = await ringflow(['run', fixture('does-not-exist.ts')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('app module not found');

    const noDefault = await ringflow(['run', fixture('no-default.ts')]);
    expect(noDefault.code).toBe(4);
    expect(noDefault.stderr).toContain('has no default export function');

    const unknownCommand = await ringflow(['launch']);
    expect(unknownCommand.code).toBe(2);
  }, 120_000);

  it('a metrics port in use exits 5 before anything runs', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = await ringflow(['run', fixture('endless-app.ts'), '--metrics', String(port)], { env: { COUNT: '10' } });
      expect(run.code).toBe(5);
      expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port} for metrics (EADDRINUSE)`);
    } finally {
      blocker.close();
    }
  }, 120_000);
});
