import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors.js';

/**
 * Where worker threads load ringflow's own modules from. Running from the package (source or
 * dist), each module's URL is computed beside the code that names it. An app bundled into one file
 * (esbuild, for Electron or a single-file deploy) has no such tree: it emits the worker entries as
 * files of their own into one folder and names that folder here — with `setWorkerDirectory(dir)`,
 * or the `RINGFLOW_WORKER_DIR` environment variable — before it starts a pipeline or service.
 *
 * The files, by name (see README, "Browsers and Electron"): `bootstrap.mjs` (every thread starts
 * there), `task-runner.mjs` (pool tasks), `stage.mjs` (stream stages), `service-host.mjs` (worker
 * services); `.mjs`, so Node loads them as ES modules wherever they lie, with or without a
 * package.json. Each is registered by the module that uses it, through `workerModule`.
 * `workerEntryPoints()` lists their sources, for a build script.
 *
 * Electron packs an app into `app.asar`, and worker threads cannot start from files inside it;
 * packagers unpack chosen files into `app.asar.unpacked` beside it. So a directory given inside
 * an `app.asar` folder is read from its `app.asar.unpacked` twin when that exists.
 */

export const WORKER_DIR_ENV = 'RINGFLOW_WORKER_DIR';
export const BOOTSTRAP_FILE = 'bootstrap.mjs';

/**
 * The worker entry files a bundled app emits into its worker directory, for its build script:
 * output name (without `.mjs`) → absolute path of the source in this ringflow install (the
 * TypeScript sources in a checkout, the compiled JS of the package). Give them to esbuild as
 * entry points with `outExtension: { '.js': '.mjs' }`. Call it from the build, not from a bundle.
 */
export function workerEntryPoints(): Record<string, string> {
  const fromSource = import.meta.url.endsWith('.ts');
  const root = new URL(fromSource ? '../../' : '../../../', import.meta.url);
  const code = fromSource ? root : new URL('dist/', root);
  const ext = fromSource ? '.ts' : '.js';
  const at = (base: URL, path: string) => fileURLToPath(new URL(path, base));
  return {
    bootstrap: at(root, `workers/${BOOTSTRAP_FILE}`),
    'task-runner': at(code, `workers/task-runner${ext}`),
    stage: at(code, `src/stream/runtime/stage${ext}`),
    'service-host': at(code, `workers/service-host${ext}`),
  };
}

/**
 * The classic script workers/bootstrap.mjs runs instead of the ES module entries when it lies
 * beside them: every entry but the bootstrap in one CommonJS bundle, which V8 can load from a code
 * cache (Node 20 caches scripts, not ES modules). Build it with `workerScriptEntry(entries)` as
 * esbuild's stdin, `format: 'cjs'`, and `define: { 'import.meta.url': WORKER_SCRIPT_URL }`.
 */
export const WORKER_SCRIPT_FILE = 'worker-script.cjs';
/** The name the worker script's code reads its own file URL from (bound by the bootstrap). */
export const WORKER_SCRIPT_URL = '__ringflowScriptUrl';

/** The worker script's entry module: each entry's namespace under its file name (`stage.mjs`, ...). */
export function workerScriptEntry(entries: Record<string, string> = workerEntryPoints()): string {
  const named = Object.entries(entries).filter(([name]) => name !== 'bootstrap');
  return [
    ...named.map(([, path], i) => `import * as entry${i} from ${JSON.stringify(path)};`),
    `export const entries = { ${named.map(([name], i) => `${JSON.stringify(`${name}.mjs`)}: entry${i}`).join(', ')} };`,
  ].join('\n');
}

let directory: string | undefined;
let fromEnvironmentRead = false;
/** Default module URL (href) → file name in the worker directory. */
const registered = new Map<string, string>();

/** `path` with its `app.asar` segment replaced by `app.asar.unpacked` when that folder exists; else `path`. */
export function unpackedAsarPath(path: string): string {
  const marker = `${sep}app.asar${sep}`;
  const at = `${path}${sep}`.lastIndexOf(marker);
  if (at < 0) return path;
  const twin = `${path.slice(0, at)}${sep}app.asar.unpacked${path.slice(at + marker.length - 1)}`;
  return existsSync(twin) ? twin : path;
}

/**
 * Points ringflow at the folder holding its worker entry files (see above); `undefined` goes back
 * to the package's own files. Throws InvalidArgumentError when the folder has no bootstrap.mjs.
 */
export function setWorkerDirectory(dir: string | URL | undefined): void {
  fromEnvironmentRead = true; // an explicit choice wins over the environment
  if (dir === undefined) {
    directory = undefined;
    return;
  }
  directory = checkDirectory(dir, 'setWorkerDirectory');
}

/** The folder set by setWorkerDirectory or RINGFLOW_WORKER_DIR (after the app.asar mapping), if any. */
export function workerDirectory(): string | undefined {
  if (!fromEnvironmentRead) {
    fromEnvironmentRead = true;
    const fromEnv = process.env[WORKER_DIR_ENV];
    if (fromEnv) directory = checkDirectory(fromEnv, WORKER_DIR_ENV);
  }
  return directory;
}

function checkDirectory(dir: string | URL, what: string): string {
  let path: string;
  if (dir instanceof URL || /^file:/.test(dir)) path = fileURLToPath(dir);
  else if (typeof dir === 'string' && dir.length > 0) path = isAbsolute(dir) ? dir : resolve(dir);
  else throw new InvalidArgumentError(`${what}: the worker directory must be a path or a file: URL, got ${String(dir)}`);
  path = unpackedAsarPath(path);
  if (!existsSync(join(path, BOOTSTRAP_FILE))) {
    throw new InvalidArgumentError(`${what}: ${path} holds no ${BOOTSTRAP_FILE}; emit ringflow's worker entries there (README, "Browsers and Electron")`);
  }
  return path;
}

/**
 * Declares a module that worker threads import by URL: `fallback` when running from the package,
 * `<worker directory>/<fileName>` once one is set. Returns `fallback`'s href, which
 * `resolveWorkerModule` maps at the time of use (so the directory may be set after imports ran).
 */
export function workerModule(fileName: string, fallback: URL): string {
  registered.set(fallback.href, fileName);
  return fallback.href;
}

/**
 * Where `npm run build` bundles the worker entries (scripts/bundle-workers.mjs), next to the
 * compiled code: meaningful from a build only (the sources have no bundles).
 */
export const BUNDLED_WORKER_DIR = new URL('../../workers/bundled/', import.meta.url);

let bundled: string | null | undefined;

/**
 * The package's bundled worker entries, when running from a build that has them and they are
 * current: each at least as new as the compiled file it was made from (tsc rewrites every file it
 * emits, so a `tsc` run after the bundling makes them stale, and the unbundled files are used).
 * One file to load per worker instead of the ~190 modules of the stage's import graph.
 */
function bundledDirectory(): string | undefined {
  if (bundled === undefined) bundled = freshBundles() ?? null;
  return bundled ?? undefined;
}

function freshBundles(): string | undefined {
  if (import.meta.url.endsWith('.ts')) return undefined;
  return currentBundles(fileURLToPath(BUNDLED_WORKER_DIR), workerEntryPoints());
}

/**
 * `dir` when it holds `<name>.mjs` for every entry, each at least as new as its source (a path in
 * `entries`, as workerEntryPoints gives them); else undefined.
 */
export function currentBundles(dir: string, entries: Record<string, string>): string | undefined {
  try {
    for (const [name, source] of Object.entries(entries)) {
      if (statSync(join(dir, `${name}.mjs`)).mtimeMs < statSync(source).mtimeMs) return undefined;
    }
  } catch {
    return undefined; // not bundled
  }
  return dir;
}

/** The folder worker entries are loaded from: the one set, else the package's current bundles, else none (each module's own file). */
function entryDirectory(): string | undefined {
  return workerDirectory() ?? bundledDirectory();
}

/** The URL a worker thread should import for `moduleUrl` (a registered module's file in the worker directory, or itself). */
export function resolveWorkerModule(moduleUrl: string): string {
  const dir = entryDirectory();
  if (dir === undefined) return moduleUrl;
  const fileName = registered.get(moduleUrl);
  return fileName === undefined ? moduleUrl : pathToFileURL(join(dir, fileName)).href;
}

/** The file every ringflow worker starts from; it imports the real entry (see workers/bootstrap.mjs). */
export function bootstrapUrl(packaged: URL): URL {
  const dir = entryDirectory();
  return dir === undefined ? packaged : pathToFileURL(join(dir, BOOTSTRAP_FILE));
}
