/** Helpers for code running inside a bench worker (see workers.ts for the protocol). */
import { parentPort, workerData } from 'node:worker_threads';

export function port() {
  if (!parentPort) throw new Error('this module must run in a worker thread');
  return parentPort;
}

export function data<T>(): T {
  return workerData as T;
}

export function sendCtl(ctl: string, payload: Record<string, unknown> = {}): void {
  port().postMessage({ ...payload, ctl });
}

export function ready(payload: Record<string, unknown> = {}): void {
  sendCtl('ready', payload);
}

/** Calls `handler` for every control message of kind `ctl`. */
export function onCtl(ctl: string, handler: (msg: Record<string, unknown>) => void | Promise<void>): void {
  port().on('message', (m: unknown) => {
    if (m !== null && typeof m === 'object' && (m as { ctl?: unknown }).ctl === ctl) {
      Promise.resolve(handler(m as Record<string, unknown>)).catch((e: unknown) => {
        sendCtl('error', { message: String((e as Error)?.stack ?? e) });
      });
    }
  });
}
