/**
 * The one Piscina task handler of every ringflow pool worker. A task names a module and one of its
 * exports; the runner imports the module (once per worker, cached) and calls the export with the
 * task's data. Long-lived loops (operator instances, service hosts) are tasks that return only
 * when their input ring closes.
 */
import { workerData } from 'node:worker_threads';
import type { TaskSpec } from '../src/pool/task.js';
import { resolveTaskFunction } from '../src/pool/task.js';
import { applyThreadPriority, type ThreadPriority } from '../src/pool/thread-priority.js';

applyThreadPriority((workerData as { priority?: ThreadPriority }).priority ?? 'normal');

export default async function runTask(task: TaskSpec): Promise<unknown> {
  const fn = await resolveTaskFunction(task.module, task.export);
  return fn(task.data);
}
