import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStateStore, StatePartition, storedDeclarations } from '../src/state/index.js';
import { dumpState, linearState, workloadDeclarations } from './fixtures/state-workload.js';
import { tempStateDir } from './helpers/state.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixture = path.join(repoRoot, 'test/fixtures/state-checkpointer.ts');
const temp = tempStateDir();
afterAll(() => temp.remove());

/** Runs the checkpointer until it has reported `commits` more commits, waits `delayMs`, SIGKILLs it. */
function runAndKill(parallelism: number, commits: number, delayMs: number): Promise<{ restored: number; lastCommitted: number; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, temp.dir, String(parallelism)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let restored = -1;
    let lastCommitted = -1;
    let seen = 0;
    let buffered = '';
    let stderr = '';
    let killing = false;
    const lines: string[] = [];
    const guard = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        const [word, n] = line.split(' ');
        if (word === 'restored') restored = Number(n);
        if (word === 'committed') {
          lastCommitted = Number(n);
          if (++seen === commits && !killing) {
            killing = true;
            setTimeout(() => child.kill('SIGKILL'), delayMs);
          }
        }
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (signal === 'SIGKILL' && killing) resolve({ restored, lastCommitted, lines });
      else reject(new Error(`checkpointer exited with ${code ?? signal} before it was killed: ${stderr}`));
    });
  });
}

describe('state under kill -9', () => {
  it('recovers, after each SIGKILL at a random point, exactly the latest committed checkpoint', async () => {
    const declarations = workloadDeclarations();
    const spec = { appId: 'killed', maxParallelism: 128, tables: storedDeclarations(declarations) };
    const parallelisms = [1, 2, 3, 2, 1];
    let previous = 0;
    const warnings: string[] = [];
    for (const [round, parallelism] of parallelisms.entries()) {
      const commits = 2 + Math.floor(Math.random() * 4);
      const delayMs = Math.floor(Math.random() * 25);
      const run = await runAndKill(parallelism, commits, delayMs);
      expect(run.restored, `round ${round}: the child restored the checkpoint the test recovered last`).toBe(previous);
      warnings.push(...run.lines.filter((l) => l.startsWith('warning')));

      const store = new FileStateStore({ stateDir: temp.dir, appId: 'killed' });
      const opened = await store.open(spec);
      const id = opened.checkpoint!.id;
      // The commit reported last, or the one whose manifest was renamed just before the kill.
      expect([run.lastCommitted, run.lastCommitted + 1], `round ${round} (${commits} commits, kill after ${delayMs} ms)`).toContain(id);
      const partition = new StatePartition({ declarations, index: 0, parallelism: 1 });
      await partition.restore(store, opened.checkpoint!);
      expect(dumpState([partition])).toEqual(linearState(id));
      expect(opened.checkpoint!.sources).toEqual({ steps: { next: id + 1 } });
      await store.close();
      previous = id;
    }
    console.log(`kill -9 rounds: ${parallelisms.length}, last checkpoint ${previous}, recovery warnings: ${warnings.length ? warnings.join('; ') : 'none'}`);
  }, 120_000);
});
