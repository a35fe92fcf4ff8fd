import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setWorkerDirectory, WorkerPool, WorkerThreadError } from '../src/pool/index.js';

const TASKS = new URL('./fixtures/pool-tasks.ts', import.meta.url).href;

describe('WorkerPool', () => {
  const pool = new WorkerPool({ threads: 2 });
  afterAll(() => pool.close());

  it('runs an export of a TypeScript module on a pool thread', async () => {
    expect(await pool.run({ module: TASKS, export: 'add', data: { a: 2, b: 40 } })).toBe(42);
  }, 10_000);

  it('runs tasks in parallel on its threads', async () => {
    const results = await Promise.all([1, 2].map((i) => pool.run({ module: TASKS, export: 'slowEcho', data: { value: `v${i}`, ms: 20 } })));
    expect(results).toEqual(['v1', 'v2']);
  }, 10_000);

  it('rejects with the task error, and with a clear load error for a missing export', async () => {
    await expect(pool.run({ module: TASKS, export: 'fail', data: { message: 'boom' } })).rejects.toThrow('boom');
    await expect(pool.run({ module: TASKS, export: 'notAFunction' })).rejects.toThrow(/no exported function 'notAFunction'/);
    await expect(pool.run({ module: TASKS, export: 'missing' })).rejects.toThrow(/no exported function 'missing'/);
  }, 10_000);

  it('threads that cannot start (a bundle missing a chunk) fail its runs with a coded error; the process lives on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringflow-broken-workers-'));
    writeFileSync(join(dir, 'bootstrap.mjs'), "import './chunks/not-there.mjs';\n");
    setWorkerDirectory(dir);
    // Two threads, one task: the thread left without a task used to fail as an 'error' event of
    // the pool with no listener, which took the process down.
    const broken = new WorkerPool({ threads: 2 });
    try {
      const first = await broken.run({ module: TASKS, export: 'add', data: { a: 1, b: 2 } }).catch((e: unknown) => e);
      expect(first).toBeInstanceOf(Error);
      // Once a thread has failed outside any task, runs fail with the pool's coded error. On a
      // loaded box the second thread may fail later than any fixed sleep, and a run that reaches
      // a thread still failing to start gets that thread's own error: so ask until then (bounded).
      let later: unknown;
      for (const until = Date.now() + 5_000; ; ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        later = await broken.run({ module: TASKS, export: 'add', data: { a: 1, b: 2 } }).catch((e: unknown) => e);
        if (later instanceof WorkerThreadError || Date.now() > until) break;
        expect(later).toBeInstanceOf(Error);
      }
      expect(later).toBeInstanceOf(WorkerThreadError);
      expect((later as WorkerThreadError).code).toBe('ERR_WORKER_THREAD');
      expect((later as Error).message).toMatch(/not-there\.mjs/);
    } finally {
      setWorkerDirectory(undefined);
      await broken.close();
    }
  }, 10_000);

  it('validates its options up front', () => {
    expect(() => new WorkerPool({ threads: 0 })).toThrow(/positive integer/);
    expect(() => new WorkerPool({ priority: 'high' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it.runIf(process.platform === 'linux')('runs its threads at the priority asked for, leaving the main thread as it was', async () => {
    const low = new WorkerPool({ threads: 1, priority: 'low' });
    try {
      expect(await low.run({ module: TASKS, export: 'ownNice' })).toBe(19);
      expect(await pool.run({ module: TASKS, export: 'ownNice' })).toBe(0);
      const { ownNice } = await import('./fixtures/pool-tasks.js');
      expect(ownNice()).toBe(0);
    } finally {
      await low.close();
    }
  }, 10_000);
});
