#!/usr/bin/env node
// Bundles ringflow's worker entry files (bootstrap, task-runner, stage, service-host) from the
// compiled dist/ into dist/workers/bundled/, one self-contained .mjs each. A worker thread then
// loads one file instead of ~190 ES modules (the stage's import graph), which cut its start from
// ~200 ms to ~60 ms of module loading on the development box. Run after `tsc -p
// tsconfig.build.json` (`npm run build` does both); the runtime uses the bundles only while they
// are at least as new as the compiled files they were made from (see pool/worker-files.ts).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { workerEntryPoints, workerScriptEntry, BUNDLED_WORKER_DIR, WORKER_SCRIPT_FILE, WORKER_SCRIPT_URL } = await import(path.join(root, 'dist/src/pool/worker-files.js'));
const outdir = fileURLToPath(BUNDLED_WORKER_DIR);
rmSync(outdir, { recursive: true, force: true }); // no chunk of an earlier build stays behind
mkdirSync(outdir, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: workerEntryPoints(),
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  // Code the entries share (the codec, the ring, pool/task's module cache) lives in chunks they
  // import, so a worker holds one instance of each module, as it does unbundled.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // tsx is loaded only for TypeScript entries (user modules), from the app's own install.
  external: ['tsx', 'tsx/*'],
  // Bundled CommonJS code (the NATS client, loaded only by remote services) calls require(); an ES
  // module has none. Made on first use: createRequire costs a few ms per file at each thread start.
  banner: {
    js: "import { createRequire as __ringflowCreateRequire } from 'node:module'; let __ringflowRequire; const require = (id) => (__ringflowRequire ??= __ringflowCreateRequire(import.meta.url))(id);",
  },
});

// The same entries as one classic script, which the bootstrap loads with V8's code cache (see
// workers/bootstrap.mjs): a worker's start then compiles almost nothing.
await build({
  absWorkingDir: root,
  stdin: { contents: workerScriptEntry(workerEntryPoints()), resolveDir: root, sourcefile: 'worker-script-entry.js' },
  outfile: path.join(outdir, WORKER_SCRIPT_FILE),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  external: ['tsx', 'tsx/*'],
  define: { 'import.meta.url': WORKER_SCRIPT_URL },
  // Without comments (and with esbuild's ASCII escapes in strings) the script is pure ASCII: V8
  // then holds it as a one-byte string. With its comments' '→' and 'µ' it was a two-byte string,
  // and reading it as UTF-8 cost each worker 10-13 ms of its start (3-5 ms now). Identifiers are
  // not minified: names in stack traces and `name` properties stay as written.
  minifyWhitespace: true,
});
{
  const script = readFileSync(path.join(outdir, WORKER_SCRIPT_FILE), 'latin1');
  const wide = script.search(/[^\x00-\x7f]/);
  if (wide >= 0) throw new Error(`bundle-workers: ${WORKER_SCRIPT_FILE} is not pure ASCII (at ${wide}: ${JSON.stringify(script.slice(wide - 40, wide + 40))})`);
}

// One worker start writes the script's code cache now, so that a build's first run starts its
// workers from it too (a Node with other V8 flags writes its own at its first start).
{
  const { Worker } = await import('node:worker_threads');
  const { pathToFileURL } = await import('node:url');
  const worker = new Worker(new URL('bootstrap.mjs', BUNDLED_WORKER_DIR), { workerData: { __ringflowEntry: pathToFileURL(path.join(outdir, 'task-runner.mjs')).href } });
  await new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
}
