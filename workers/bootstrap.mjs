// Entry file of every worker ringflow starts (plain JS so Node can load it without a build).
// It loads the real entry named in workerData; when that entry is TypeScript (running from
// source, or a user's .ts operator module), it registers tsx first — Node 20 does not apply
// `--import` hooks from a worker's execArgv, so the hook has to be installed from inside.
//
// From a build, the entry's folder also holds `worker-script.cjs`: every worker entry in one
// classic script (scripts/bundle-workers.mjs). Compiling ~0.5 MB of JavaScript is most of what a
// worker's start costs, and V8 can skip it with a code cache — which Node 20 offers for scripts
// (vm.Script's cachedData), not for ES modules. So the bootstrap runs that script with the cache
// kept beside it, and writes the cache when it is missing or V8 refused it (another Node, other
// V8 flags). Without the script (running from source, or an app's own worker folder) the entry is
// imported as before.
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { threadId, workerData } from 'node:worker_threads';

const SCRIPT_FILE = 'worker-script.cjs';
/** Where the script's modules find what it cannot hold (see src/pool/task.ts). */
const IMPORT_HOOK = Symbol.for('ringflow.import');
const PRELOADED = Symbol.for('ringflow.preloadedEntries');

const entry = workerData?.__ringflowEntry;
if (typeof entry !== 'string') throw new Error('ringflow bootstrap: workerData.__ringflowEntry is missing');
if (/\.[mc]?tsx?$/.test(new URL(entry).pathname)) {
  const { register } = await import('tsx/esm/api');
  register();
}
const mod = fromWorkerScript(entry) ?? (await import(entry));

// Piscina calls the default export of its filename with each task.
export default mod.default;

/** `entry`'s module namespace from the worker script beside it, or undefined when there is none. */
function fromWorkerScript(entryUrl) {
  const url = new URL(entryUrl);
  if (url.protocol !== 'file:') return undefined;
  const path = fileURLToPath(new URL(SCRIPT_FILE, url));
  let source;
  let stat;
  try {
    stat = statSync(path);
    source = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  // V8 checks a cache's V8 version and flags, not the source it came from: the name ties the cache
  // to this very file (size, mtime) and to the flags this process runs with.
  const key = fnv1a([process.version, process.arch, stat.size, stat.mtimeMs, process.execArgv.join(' '), process.env.NODE_OPTIONS ?? ''].join('\0'));
  const cachePath = `${path}.${key}.cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cachePath);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __ringflowScriptUrl) {${source}\n})`, { filename: path, cachedData });
  const module = { exports: {} };
  // import() is not available inside a vm script without an experimental flag: the script's
  // modules import through this ES module instead.
  globalThis[IMPORT_HOOK] = (specifier) => import(specifier);
  script.runInThisContext()(module.exports, createRequire(path), module, path, dirname(path), pathToFileURL(path).href);
  const entries = module.exports.entries;
  const namespace = entries?.[basename(url.pathname)];
  if (namespace === undefined) return undefined;
  const dir = new URL('.', url);
  globalThis[PRELOADED] = new Map(Object.entries(entries).map(([file, ns]) => [new URL(file, dir).href, ns]));
  if (cachedData === undefined || script.cachedDataRejected) writeCache(cachePath, script);
  return namespace;
}

/** Best effort: a read-only install simply goes without. The rename makes the file appear whole. */
function writeCache(cachePath, script) {
  const partial = `${cachePath}.${process.pid}-${threadId}.partial`;
  try {
    writeFileSync(partial, script.createCachedData());
    renameSync(partial, cachePath);
  } catch {
    // no cache this time
  }
}

/** FNV-1a, 32 bits, as hex: a short file-name key (node:crypto would cost a worker's start more than it saves). */
function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}
