import { describe, expect, it } from 'vitest';
import { spawnWorker } from '../src/pool/index.js';

describe('spawnWorker', () => {
  it('runs a TypeScript entry in a worker thread without a build step', async () => {
    const worker = spawnWorker(new URL('./fixtures/echo-worker.ts', import.meta.url), { n: 41 });
    const reply = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(reply).toBe(42);
    await worker.terminate();
  }, 10_000);
});
