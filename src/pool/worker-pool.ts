import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Transferable } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { InvalidArgumentError, RingflowError } from '../errors.js';
import { BOOTSTRAP_URL, bootstrapData } from './spawn.js';
import { bootstrapUrl, resolveWorkerModule, workerModule } from './worker-files.js';
import type { TaskSpec } from './task.js';
import { checkThreadPriority, type ThreadPriority } from './thread-priority.js';

const TASK_RUNNER_URL = workerModule('task-runner.mjs', new URL(`../../workers/task-runner${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

export interface WorkerPoolOptions {
  /** Threads kept ready. Default: the machine's available parallelism. */
  threads?: number;
  /** Scheduling priority of the pool's threads (Linux; see ThreadPriority). Default 'normal'. */
  priority?: ThreadPriority;
  /** Extra resource limits for each worker (heap sizes), as Node's Worker takes them. */
  resourceLimits?: ConstructorParameters<typeof Piscina>[0] extends infer O ? (O extends { resourceLimits?: infer R } ? R : never) : never;
}

/**
 * A pool thread failed outside any task: most often it could not start (its worker files are
 * missing from a bundle, or its resource limits are too small to load them). Piscina then makes no
 * more threads, so every run of the pool, waiting or to come, fails with this error.
 */
export class WorkerThreadError extends RingflowError {
  constructor(cause: unknown) {
    super('ERR_WORKER_THREAD', `a worker thread failed outside any task (could it start? check the worker files and resource limits): ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/**
 * Piscina, loaded when the first pool is made. Worker threads import this module through the
 * service and stream index files without ever making a pool; a static import would load piscina's
 * ~70 kB into each of them as it starts.
 */
let piscinaClass: typeof Piscina | undefined;
function loadPiscina(): typeof Piscina {
  return (piscinaClass ??= (createRequire(import.meta.url)('piscina') as { Piscina: typeof Piscina }).Piscina);
}

/**
 * The Piscina pool that runs ringflow's operator instances and worker-placed services. Every
 * thread runs workers/task-runner: a task names a module export to call, so one pool serves every
 * kind of work. A long-lived loop holds its thread until it returns, so size the pool for every
 * loop that must run at once (Piscina cannot resize a pool).
 */
export class WorkerPool {
  private readonly piscina: Piscina;
  private closed = false;
  /** Set once a thread failed outside any task (Piscina's 'error' event): runs fail with it. */
  private threadFailure: WorkerThreadError | undefined;
  private readonly broken: Promise<never>;
  private breakRuns!: (error: WorkerThreadError) => void;

  constructor(options: WorkerPoolOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new InvalidArgumentError(`threads must be a positive integer, got ${String(threads)}`);
    }
    const priority = checkThreadPriority(options.priority ?? 'normal');
    const PiscinaPool = loadPiscina();
    this.piscina = new PiscinaPool({
      filename: bootstrapUrl(BOOTSTRAP_URL).href,
      workerData: bootstrapData(TASK_RUNNER_URL, { priority }),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      concurrentTasksPerWorker: 1,
      resourceLimits: options.resourceLimits,
    });
    this.broken = new Promise<never>((_resolve, reject) => (this.breakRuns = reject));
    this.broken.catch(() => undefined);
    // Without a listener the event would throw and take the process down; the tasks queued for the
    // thread would wait forever.
    this.piscina.on('error', (error: unknown) => {
      this.threadFailure ??= new WorkerThreadError(error);
      this.breakRuns(this.threadFailure);
    });
  }

  get threads(): number {
    return this.piscina.maxThreads;
  }

  /** Number of threads currently alive. */
  get liveThreads(): number {
    return this.piscina.threads.length;
  }

  /** Runs `spec` on a pool thread; resolves with what the export returned (structured clone). */
  run<T = unknown>(spec: TaskSpec, options: { signal?: AbortSignal; transferList?: Transferable[] } = {}): Promise<T> {
    if (this.closed) return Promise.reject(new InvalidArgumentError('the worker pool is closed'));
    if (this.threadFailure) return Promise.reject(this.threadFailure);
    const running = this.piscina.run({ ...spec, module: resolveWorkerModule(spec.module) }, { signal: options.signal, transferList: options.transferList as never }) as Promise<T>;
    return Promise.race([running, this.broken]);
  }

  /** Stops every thread; running tasks are ended. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.destroy();
  }
}
