/**
 * Starting, talking to and stopping bench workers from the main thread.
 *
 * Protocol: control messages are objects `{ ctl: string, ... }` (see worker-side.ts). A worker
 * says `{ ctl: 'ready' }` once it has attached its rings and is about to wait for data; anything
 * else it posts without a `ctl` field is data, ignored here (suites that need it listen themselves).
 */
import type { TransferListItem, Worker } from 'node:worker_threads';
import { spawnWorker } from '../../src/pool/index.js';

export interface ControlMessage {
  ctl: string;
  [key: string]: unknown;
}

export class BenchWorker {
  readonly worker: Worker;
  readonly name: string;
  private readonly inbox: ControlMessage[] = [];
  private readonly waiters: { ctl: string; resolve: (m: ControlMessage) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;
  private exited = false;

  constructor(name: string, worker: Worker) {
    this.name = name;
    this.worker = worker;
    worker.on('message', (m: unknown) => {
      if (m === null || typeof m !== 'object' || typeof (m as ControlMessage).ctl !== 'string') return;
      const msg = m as ControlMessage;
      const i = this.waiters.findIndex((w) => w.ctl === msg.ctl);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
      else this.inbox.push(msg);
    });
    worker.on('error', (e: Error) => this.fail(new Error(`bench worker ${name} failed: ${e.message}`, { cause: e })));
    worker.on('exit', (code) => {
      this.exited = true;
      if (code !== 0) this.fail(new Error(`bench worker ${name} exited with code ${code}`));
      else this.fail(new Error(`bench worker ${name} exited`));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  /** The next control message of kind `ctl`. */
  next<T extends ControlMessage = ControlMessage>(ctl: string, timeoutMs = 60_000): Promise<T> {
    const i = this.inbox.findIndex((m) => m.ctl === ctl);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as T);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const j = this.waiters.indexOf(waiter);
        if (j >= 0) this.waiters.splice(j, 1);
        reject(new Error(`bench worker ${this.name}: no '${ctl}' message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        ctl,
        resolve: (m: ControlMessage) => {
          clearTimeout(timer);
          resolve(m as T);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  send(msg: ControlMessage, transfer?: readonly TransferListItem[]): void {
    this.worker.postMessage(msg, transfer as TransferListItem[] | undefined);
  }

  /** Terminates the thread (idempotent). Always call it, so the process can exit. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.failure ??= new Error(`bench worker ${this.name} stopped`);
    await this.worker.terminate();
  }
}

/** Spawns `entry` (a .ts module under bench/workers) and resolves once it reports ready. */
export async function startWorker(
  name: string,
  entry: URL,
  workerData: Record<string, unknown> = {},
  transferList: readonly TransferListItem[] = [],
): Promise<BenchWorker> {
  const worker = spawnWorker(entry, workerData, { transferList: [...transferList] });
  const handle = new BenchWorker(name, worker);
  try {
    await handle.next('ready');
  } catch (e) {
    await handle.stop();
    throw e;
  }
  return handle;
}

/** Running compiled (dist/bench, what `npm run bench` does) rather than from source (tsx). */
const compiled = import.meta.url.endsWith('.js');

/**
 * A bench worker's module, named by its source file. Compiled, a `.ts` worker is its `.js` next
 * to this file in dist, and a plain `.mjs` one (not compiled) stays in the source tree.
 */
export function benchWorkerUrl(file: string): URL {
  if (compiled && file.endsWith('.ts')) return new URL(`../workers/${file.slice(0, -3)}.js`, import.meta.url);
  // Plain files (.mjs workers, wrk's .lua script) are not compiled: they stay in the source tree.
  if (compiled) return new URL(`../../../bench/workers/${file}`, import.meta.url);
  return new URL(`../workers/${file}`, import.meta.url);
}

/** Runs `body` with workers that are stopped afterwards whatever happens. */
export async function withWorkers<T>(start: () => Promise<BenchWorker[]>, body: (workers: BenchWorker[]) => Promise<T>): Promise<T> {
  const workers = await start();
  try {
    return await body(workers);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}
