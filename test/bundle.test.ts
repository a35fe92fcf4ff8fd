import { build, type BuildOptions } from 'esbuild';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setWorkerDirectory, unpackedAsarPath, workerEntryPoints } from '../src/pool/index.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The bundling recipe of the README, run for real: an app using ringflow is bundled by esbuild
 * into one file inside a folder named `app.asar` (as Electron packs it), ringflow's worker entry
 * files are emitted as entry points of their own into `app.asar.unpacked/workers` (where
 * packagers put what must stay plain files), and `node` runs the bundle: a map on 2 workers and
 * a sink. piscina stays a package beside the app (it starts its own worker file).
 */
describe('an app bundled with esbuild', () => {
  let dir: string;
  let app: string;
  let workers: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ringflow-bundle-'));
    app = join(dir, 'app.asar', 'main.mjs');
    workers = join(dir, 'app.asar.unpacked', 'workers');
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', 'piscina'), join(dir, 'node_modules', 'piscina'), 'dir');
    const common: BuildOptions = {
      absWorkingDir: ROOT,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
      external: ['piscina', 'tsx'],
      // Bundled CommonJS code that calls require() gets a real one in an ES module bundle.
      banner: { js: "import { createRequire as __ringflowCreateRequire } from 'node:module'; const require = __ringflowCreateRequire(import.meta.url);" },
    };
    await build({ ...common, entryPoints: [join(ROOT, 'test/fixtures/bundled-app.ts')], outfile: app });
    await build({ ...common, entryPoints: workerEntryPoints(), outdir: workers, outExtension: { '.js': '.mjs' } });
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs its pipeline from the bundle, the workers from the unpacked twin of app.asar', async () => {
    const { stdout } = await run(process.execPath, [app], { cwd: dir, timeout: 60_000, env: { ...process.env, RINGFLOW_WORKER_DIR: '' } });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(report).toMatchObject({ count: 2000, sum: 3 * ((1999 * 2000) / 2) + 2000, sorted: true, sources: { source: 2000 }, workerDirectory: workers });
    expect(Object.values(report.stages)).toEqual([2000]);
  }, 60_000);

  it('takes the worker folder from RINGFLOW_WORKER_DIR too', async () => {
    const { stdout } = await run(process.execPath, [app], { cwd: dir, timeout: 60_000, env: { ...process.env, RINGFLOW_WORKER_DIR: workers } });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ count: 2000, sorted: true, workerDirectory: workers });
  }, 60_000);

  it('the bundle holds ringflow, the worker entries are files of their own', () => {
    const bundle = readFileSync(app, 'utf8');
    // (booleans, so a failure does not print the whole bundle)
    expect(/\bSharedRing = class\b/.test(bundle), 'the ring is in the bundle').toBe(true);
    expect(/\bfunction runStage\b/.test(bundle), 'stage code stays out of the app bundle').toBe(false);
    for (const name of Object.keys(workerEntryPoints())) expect(readFileSync(join(workers, `${name}.mjs`), 'utf8').length).toBeGreaterThan(0);
  });

  it('refuses a worker folder without the entry files, naming what is missing', () => {
    expect(() => setWorkerDirectory(join(dir, 'node_modules'))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/bootstrap\.mjs/) }));
    expect(() => setWorkerDirectory('' as never)).toThrow(/path or a file: URL/);
    setWorkerDirectory(undefined);
  });

  it('maps a path inside app.asar to its app.asar.unpacked twin only when the twin exists', () => {
    expect(unpackedAsarPath(join(dir, 'app.asar', 'workers'))).toBe(workers);
    expect(unpackedAsarPath(join(dir, 'app.asar', 'elsewhere'))).toBe(join(dir, 'app.asar', 'elsewhere'));
    expect(unpackedAsarPath(join(dir, 'workers'))).toBe(join(dir, 'workers'));
  });
});
