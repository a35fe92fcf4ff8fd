// Entry file of every worker ringflow starts (plain JS so Node can load it without a build).
// It loads the real entry named in workerData; when that entry is TypeScript (running from
// source, or a user's .ts operator module), it registers tsx first — Node 20 does not apply
// `--import` hooks from a worker's execArgv, so the hook has to be installed from inside.
import { workerData } from 'node:worker_threads';

const entry = workerData?.__ringflowEntry;
if (typeof entry !== 'string') throw new Error('ringflow bootstrap: workerData.__ringflowEntry is missing');
if (/\.[mc]?tsx?$/.test(new URL(entry).pathname)) {
  const { register } = await import('tsx/esm/api');
  register();
}
const mod = await import(entry);

// Piscina calls the default export of its filename with each task.
export default mod.default;
