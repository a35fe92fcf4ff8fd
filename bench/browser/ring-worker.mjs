// The Web Worker half of the browser bench: reads records from a SharedRing (blocking waits are
// allowed in a worker) or from postMessage, and checks every record's content and order.
import { atomicsWaitAllowed, isMainThread, runtime, sharedMemoryAvailable } from '../../src/platform/index.ts';
import { SharedRing } from '../../src/ring/index.ts';
import { makeChecker, RECORD_BYTES, RECORD_TYPE, tryBlockingRead, writeRecord } from './records.mjs';


function readRing(buffer, n) {
  const ring = SharedRing.attach(buffer);
  const u32 = new Uint32Array(buffer, ring.data.byteOffset, ring.capacity >> 2);
  const f64 = new Float64Array(buffer, ring.data.byteOffset, ring.capacity >> 3);
  const state = makeChecker();
  let count = 0;
  const handler = (type, _data, offset, length) => {
    state.check(u32[offset >> 2], u32[(offset >> 2) + 1], f64[(offset >> 3) + 1], length, type);
    count++;
  };
  while (count < n) {
    if (ring.drain(handler, n - count) > 0) continue;
    if (!ring.waitReadable(10_000)) break; // closed and drained
  }
  return { count, errors: state.errors, firstBad: state.firstBad };
}

/** Writes n records into the ring (blocking while it is full: a worker may). */
function writeRing(buffer, n) {
  const ring = SharedRing.attach(buffer);
  const u32 = new Uint32Array(buffer, ring.data.byteOffset, ring.capacity >> 2);
  const f64 = new Float64Array(buffer, ring.data.byteOffset, ring.capacity >> 3);
  ring.encodeMany(RECORD_TYPE, RECORD_BYTES, n, (_data, offset, i) => writeRecord(u32, f64, offset, i), { timeoutMs: 10_000 });
}

let pm = null;

self.onmessage = (event) => {
  const m = event.data;
  if (typeof m.seq === 'number') {
    pm.state.check(m.seq, m.check, m.value, RECORD_BYTES, RECORD_TYPE);
    if (++pm.count === pm.n) self.postMessage({ kind: 'pm-done', count: pm.count, errors: pm.state.errors, firstBad: pm.state.firstBad });
    return;
  }
  try {
    if (m.kind === 'facts') {
      const blockingRead = tryBlockingRead(SharedRing);
      self.postMessage({ kind: 'facts', facts: { runtime, isMainThread, atomicsWaitAllowed, sharedMemoryAvailable, crossOriginIsolated: self.crossOriginIsolated, blockingRead } });
    } else if (m.kind === 'ring') {
      self.postMessage({ kind: 'ring-done', ...readRing(m.buffer, m.n) });
    } else if (m.kind === 'ring-write') {
      writeRing(m.buffer, m.n);
      self.postMessage({ kind: 'ring-written' });
    } else if (m.kind === 'pm-start') {
      pm = { n: m.n, count: 0, state: makeChecker() };
      self.postMessage({ kind: 'pm-ready' });
    }
  } catch (error) {
    self.postMessage({ kind: 'error', message: String(error?.stack ?? error) });
  }
};
self.postMessage({ kind: 'up' });
