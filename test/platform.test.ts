import { build } from 'esbuild';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { spawnWorker } from '../src/pool/index.js';
import { atomicsWaitAllowed, hardwareConcurrency, isMainThread, now, runtime } from '../src/platform/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));


/** Bundles a layer's public face for the browser and returns every `node:` import, by importing file. */
async function nodeImportsOf(entry: string): Promise<{ offenders: Array<{ file: string; imports: string[] }>; text: string }> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // Kept external (not an error) so the metafile can say which file imports them.
    external: ['node:*'],
  });
  const offenders = Object.entries(result.metafile!.inputs)
    .map(([file, input]) => ({ file, imports: input.imports.map((i) => i.path).filter((p) => p.startsWith('node:')) }))
    .filter((o) => o.imports.length > 0);
  return { offenders, text: result.outputFiles![0]!.text };
}

describe('platform', () => {
  it('knows the Node main thread: the main thread, where Atomics.wait is allowed by the host', () => {
    expect(runtime).toBe('node');
    expect(isMainThread).toBe(true);
    expect(atomicsWaitAllowed).toBe(true);
    expect(hardwareConcurrency()).toBeGreaterThanOrEqual(1);
  });

  it('knows a Node worker thread is not the main thread', async () => {
    const worker = spawnWorker(new URL('./fixtures/platform-facts.ts', import.meta.url));
    try {
      const [facts] = await once(worker, 'message');
      expect(facts).toMatchObject({ isMainThread: false, atomicsWaitAllowed: true, runtime: 'node' });
    } finally {
      await worker.terminate();
    }
  }, 15_000);

  it('has a monotonic clock in ms', async () => {
    const a = now();
    await new Promise((resolve) => setTimeout(resolve, 15));
    const b = now();
    expect(b).toBeGreaterThan(a);
    expect(b - a).toBeGreaterThanOrEqual(10);
    expect(b - a).toBeLessThan(10_000);
  });
});

describe('layers that run in a browser import no node: module', () => {
  for (const layer of ['platform', 'sync', 'ring', 'codec']) {
    it(`src/${layer} bundles for the browser with no node: import`, async () => {
      const { offenders, text } = await nodeImportsOf(`src/${layer}/index.ts`);
      expect(offenders).toEqual([]);
      expect(text).not.toMatch(/["'`]node:/);
    }, 20_000);
  }
});
