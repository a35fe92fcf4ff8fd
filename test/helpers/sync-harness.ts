// Test-side helper for the sync tests (kept under fixtures/ because that is the only shared place
// these tests may write): starts a fixture worker and turns its messages and exit into promises.
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../../src/pool/index.js';

export interface FixtureWorker {
  readonly worker: Worker;
  /** The next message the worker posts (rejects if it fails first). */
  nextMessage<T = unknown>(): Promise<T>;
  /** Settles when the worker exits: resolves on code 0, rejects on an error or another code. */
  readonly exited: Promise<void>;
}

/** Starts `test/fixtures/<name>` in a worker thread with `data` as workerData. */
export function startFixture(name: string, data: Record<string, unknown> = {}): FixtureWorker {
  const worker = spawnWorker(new URL(`../fixtures/${name}`, import.meta.url), data);
  const inbox: unknown[] = [];
  const waiting: Array<{ resolve: (m: unknown) => void; reject: (e: unknown) => void }> = [];
  let failure: unknown;

  worker.on('message', (message) => {
    const next = waiting.shift();
    if (next) next.resolve(message);
    else inbox.push(message);
  });
  const exited = new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => {
      failure ??= error;
      for (const w of waiting.splice(0)) w.reject(error);
      reject(error);
    };
    worker.once('error', fail);
    worker.once('exit', (code) => (code === 0 ? resolve() : fail(new Error(`${name} exited with code ${code}`))));
  });
  exited.catch(() => {}); // observed through nextMessage or by awaiting `exited`

  return {
    worker,
    exited,
    nextMessage<T>() {
      if (inbox.length > 0) return Promise.resolve(inbox.shift() as T);
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise<T>((resolve, reject) => waiting.push({ resolve: resolve as (m: unknown) => void, reject }));
    },
  };
}

/** Runs a fixture that posts one result and exits; resolves with that result. */
export async function runFixture<T>(name: string, data: Record<string, unknown> = {}): Promise<T> {
  const fixture = startFixture(name, data);
  const result = await fixture.nextMessage<T>();
  await fixture.exited;
  return result;
}

/** Resolves after `count` turns of the event loop's timer phase, counting them while they happen. */
export function ticksOfInterval(count: number, everyMs = 1): { done: Promise<void>; readonly ticks: () => number; stop(): void } {
  let ticks = 0;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      ticks++;
      if (ticks === count) resolve();
    }, everyMs);
  });
  return { done, ticks: () => ticks, stop: () => clearInterval(timer) };
}
