// The page half of the browser bench: the page's thread (which must never block) writes records
// into a SharedRing with encodeManyAsync (parking with Atomics.waitAsync when the ring is full),
// or posts them one message each; a Web Worker checks them. Exposed as globalThis.ringflowBench.
import { atomicsWaitAllowed, isMainThread, now, runtime, sharedMemoryAvailable } from '../../src/platform/index.ts';
import { SharedRing } from '../../src/ring/index.ts';
import { checkOf, makeChecker, RECORD_BYTES, RECORD_TYPE, tryBlockingRead, valueOf, writeRecord } from './records.mjs';

const RING_CAPACITY = 1 << 20;

const worker = new Worker(new URL('./ring-worker.js', import.meta.url), { type: 'module' });
const inbox = [];
const waiting = [];
worker.onmessage = (event) => {
  const m = event.data;
  const i = waiting.findIndex((w) => w.kind === m.kind || m.kind === 'error');
  if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
  else inbox.push(m);
};
worker.onerror = (event) => {
  const m = { kind: 'error', message: event.message ?? 'worker error' };
  for (const w of waiting.splice(0)) w.resolve(m);
  inbox.push(m);
};

function next(kind) {
  const i = inbox.findIndex((m) => m.kind === kind || m.kind === 'error');
  const got = i >= 0 ? Promise.resolve(inbox.splice(i, 1)[0]) : new Promise((resolve) => waiting.push({ kind, resolve }));
  return got.then((m) => {
    if (m.kind === 'error') throw new Error(`worker: ${m.message}`);
    return m;
  });
}

const up = next('up');

async function facts() {
  await up;
  const blockingRead = tryBlockingRead(SharedRing);
  const page = { runtime, isMainThread, atomicsWaitAllowed, sharedMemoryAvailable, crossOriginIsolated: globalThis.crossOriginIsolated, blockingRead };
  worker.postMessage({ kind: 'facts' });
  return { page, worker: (await next('facts')).facts };
}

/** Moves n records page→worker through a SharedRing; the time runs until the worker has checked all. */
async function ring(n) {
  await up;
  const r = SharedRing.create({ capacity: RING_CAPACITY });
  const u32 = new Uint32Array(r.buffer, r.data.byteOffset, r.capacity >> 2);
  const f64 = new Float64Array(r.buffer, r.data.byteOffset, r.capacity >> 3);
  worker.postMessage({ kind: 'ring', buffer: r.buffer, n });
  const t0 = now();
  await r.encodeManyAsync(RECORD_TYPE, RECORD_BYTES, n, (_data, offset, i) => writeRecord(u32, f64, offset, i));
  const done = await next('ring-done');
  const ms = now() - t0;
  r.close();
  return { ...done, ms, rate: (n / ms) * 1000 };
}

/**
 * Moves n records worker→page: the worker writes (blocking while the ring is full), the page
 * drains zero-copy and, when the ring is empty, awaits `readable` (Atomics.waitAsync).
 */
async function ringFromWorker(n) {
  await up;
  const r = SharedRing.create({ capacity: RING_CAPACITY });
  const u32 = new Uint32Array(r.buffer, r.data.byteOffset, r.capacity >> 2);
  const f64 = new Float64Array(r.buffer, r.data.byteOffset, r.capacity >> 3);
  const state = makeChecker();
  let count = 0;
  const handler = (type, _data, offset, length) => {
    state.check(u32[offset >> 2], u32[(offset >> 2) + 1], f64[(offset >> 3) + 1], length, type);
    count++;
  };
  const t0 = now();
  worker.postMessage({ kind: 'ring-write', buffer: r.buffer, n });
  while (count < n) {
    if (r.drain(handler, n - count) > 0) continue;
    if (!(await r.readable(10_000))) break;
  }
  const ms = now() - t0;
  await next('ring-written');
  r.close();
  return { count, errors: state.errors, firstBad: state.firstBad, ms, rate: (n / ms) * 1000 };
}

/** Moves n of the same records page→worker, one structured-clone message each. */
async function postMessageBaseline(n) {
  await up;
  worker.postMessage({ kind: 'pm-start', n });
  await next('pm-ready');
  const t0 = now();
  for (let seq = 0; seq < n; seq++) worker.postMessage({ seq, check: checkOf(seq), value: valueOf(seq) });
  const done = await next('pm-done');
  const ms = now() - t0;
  return { ...done, ms, rate: (n / ms) * 1000 };
}

globalThis.ringflowBench = { facts, ring, ringFromWorker, postMessage: postMessageBaseline };
