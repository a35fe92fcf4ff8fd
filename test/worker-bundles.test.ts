import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { currentBundles, resolveWorkerModule, workerModule } from '../src/pool/worker-files.js';

/**
 * `npm run build` bundles the worker entries into dist/workers/bundled; the runtime takes them
 * only while each is at least as new as the compiled file it came from (a later `tsc` makes them
 * stale), and never when running from the TypeScript sources.
 */
describe('bundled worker entries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringflow-bundles-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const source = join(dir, 'stage.js');
  const bundle = join(dir, 'stage.mjs');
  const at = (path: string, seconds: number) => utimesSync(path, seconds, seconds);

  it('are used when each is at least as new as its source', () => {
    writeFileSync(source, '');
    writeFileSync(bundle, '');
    at(source, 1000);
    at(bundle, 1000);
    expect(currentBundles(dir, { stage: source })).toBe(dir);
    at(bundle, 2000);
    expect(currentBundles(dir, { stage: source })).toBe(dir);
  });

  it('are not used when a source was compiled after them, or one is missing', () => {
    at(source, 3000);
    expect(currentBundles(dir, { stage: source })).toBeUndefined();
    at(source, 1000);
    expect(currentBundles(dir, { stage: source, 'task-runner': join(dir, 'task-runner.js') })).toBeUndefined();
  });

  it('are not used from the sources: a worker module resolves to itself', () => {
    const url = new URL('./fixtures/nothing.ts', import.meta.url);
    expect(resolveWorkerModule(workerModule('nothing.mjs', url))).toBe(url.href);
  });
});
