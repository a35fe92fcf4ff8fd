import { build, type BuildOptions } from 'esbuild';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_SCRIPT_FILE, WORKER_SCRIPT_URL, workerEntryPoints, workerScriptEntry } from '../src/pool/index.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const APP = join(ROOT, 'test/fixtures/bundled-app.ts');

/**
 * The worker script (workers/bootstrap.mjs): a worker folder that holds `worker-script.cjs` beside
 * the entry files has its workers run that classic script with V8's code cache, written beside it
 * on the first start and taken by every start after. Built here as `npm run build` builds it, from
 * the sources; a 2-worker pipeline runs from it (RINGFLOW_WORKER_DIR) in a child process.
 */
describe('the worker script with its code cache', () => {
  let dir: string;
  const caches = () => readdirSync(dir).filter((f) => f.startsWith(`${WORKER_SCRIPT_FILE}.`) && f.endsWith('.cache'));
  const runApp = async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', APP], { cwd: ROOT, timeout: 60_000, env: { ...process.env, RINGFLOW_WORKER_DIR: dir } });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(report).toMatchObject({ count: 2000, sum: 3 * ((1999 * 2000) / 2) + 2000, sorted: true, workerDirectory: dir });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ringflow-script-'));
    const common: BuildOptions = { absWorkingDir: ROOT, bundle: true, platform: 'node', target: 'node20', logLevel: 'silent', external: ['tsx', 'tsx/*'] };
    await build({
      ...common,
      format: 'esm',
      entryPoints: workerEntryPoints(),
      outdir: dir,
      outExtension: { '.js': '.mjs' },
      banner: { js: "import { createRequire as __ringflowCreateRequire } from 'node:module'; const require = __ringflowCreateRequire(import.meta.url);" },
    });
    await build({
      ...common,
      format: 'cjs',
      stdin: { contents: workerScriptEntry(workerEntryPoints()), resolveDir: ROOT, sourcefile: 'worker-script-entry.js' },
      outfile: join(dir, WORKER_SCRIPT_FILE),
      define: { 'import.meta.url': WORKER_SCRIPT_URL },
    });
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds every entry but the bootstrap, each under its file name', () => {
    const source = workerScriptEntry({ bootstrap: '/b.mjs', stage: '/s.js', 'task-runner': '/t.js' });
    expect(source).toContain('"stage.mjs": entry0');
    expect(source).toContain('"task-runner.mjs": entry1');
    expect(source).not.toContain('/b.mjs');
  });

  it('a first start runs the pipeline from the script and writes the cache beside it', async () => {
    expect(caches()).toEqual([]);
    await runApp();
    expect(caches()).toHaveLength(1);
    expect(statSync(join(dir, caches()[0]!)).size).toBeGreaterThan(10_000);
    expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).toEqual([]);
  }, 60_000);

  it('later starts take the cache as it is (V8 accepted it: nothing is rewritten)', async () => {
    const [file] = caches();
    const before = statSync(join(dir, file!)).mtimeMs;
    await runApp();
    expect(caches()).toEqual([file]);
    expect(statSync(join(dir, file!)).mtimeMs).toBe(before);
  }, 60_000);

  it('a cache V8 refuses (here: garbage) costs nothing but its rewrite', async () => {
    const path = join(dir, caches()[0]!);
    writeFileSync(path, Buffer.alloc(4096, 7));
    await runApp();
    expect(readFileSync(path).equals(Buffer.alloc(4096, 7))).toBe(false);
    expect(statSync(path).size).toBeGreaterThan(10_000);
  }, 60_000);

  it('a script changed since (another size or mtime) gets a cache of its own', async () => {
    const script = join(dir, WORKER_SCRIPT_FILE);
    writeFileSync(script, `${readFileSync(script, 'utf8')}\n// rebuilt\n`);
    await runApp();
    expect(caches()).toHaveLength(2);
  }, 60_000);
});
