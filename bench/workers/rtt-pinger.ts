/**
 * The measuring side of the worker↔worker round-trip suite. On `{ ctl: 'start' }` it runs
 * `warmup` round trips, then up to `samples` individually timed ones (performance.now() around
 * each, within `timeMs`), then as many again timed only as a whole (mean without per-sample timer
 * cost), and replies `{ ctl: 'result', ... }` with the distribution in µs.
 *
 * mode 'ring': request on `req`, reply awaited on `resp` with the blocking wait strategy named in
 * workerData (ring-echo.ts answers). mode 'port': postMessage over a MessageChannel port
 * (port-echo.ts answers on the other port).
 */
import type { MessagePort } from 'node:worker_threads';
import { SharedRing } from '../../src/ring/index.js';
import { summarize } from '../lib/stats.js';
import { strategy, type StrategyName } from '../lib/strategies.js';
import { data, onCtl, ready, sendCtl } from '../lib/worker-side.js';

interface Config {
  mode: 'ring' | 'port';
  req?: SharedArrayBuffer;
  resp?: SharedArrayBuffer;
  port?: MessagePort;
  strategy: StrategyName;
  warmup: number;
  samples: number;
  /** Time budget of the sampled phase, ms. */
  timeMs: number;
}
const cfg = data<Config>();

function timerOverheadUs(): number {
  let best = Infinity;
  for (let i = 0; i < 10_000; i++) {
    const t0 = performance.now();
    const t1 = performance.now();
    if (t1 - t0 < best) best = t1 - t0;
  }
  return best * 1000;
}

function ringRoundTrip(): (i: number) => void {
  const waitStrategy = strategy(cfg.strategy);
  const req = SharedRing.attach(cfg.req!, { waitStrategy });
  const resp = SharedRing.attach(cfg.resp!, { waitStrategy });
  const reqF64 = new Float64Array(req.buffer, req.data.byteOffset, req.capacity >> 3);
  const respF64 = new Float64Array(resp.buffer, resp.data.byteOffset, resp.capacity >> 3);
  let reply = -1;
  const onReply = (_t: number, _d: Uint8Array, offset: number) => {
    reply = respF64[offset >> 3]!;
  };
  return (i) => {
    const off = req.claim(0, 8);
    reqF64[off >> 3] = i;
    req.commit(off);
    while (resp.drain(onReply, 1) === 0) {
      if (!resp.waitReadable()) throw new Error('response ring closed');
    }
    if (reply !== i) throw new Error(`round trip ${i} got reply ${reply}`);
  };
}

function portRoundTrip(): (i: number) => Promise<void> {
  const port = cfg.port!;
  let resolve: (v: number) => void = () => {};
  port.on('message', (m: number) => resolve(m));
  return async (i) => {
    const reply = await new Promise<number>((r) => {
      resolve = r;
      port.postMessage(i);
    });
    if (reply !== i) throw new Error(`round trip ${i} got reply ${reply}`);
  };
}

/**
 * Same measurement for both modes: `warmup` round trips, then up to `samples` individually timed
 * ones (stopping early after `timeMs`), then as many again timed only as a whole. The ring one
 * stays synchronous (no await per round trip).
 */
function measureSync(rt: (i: number) => void) {
  let i = 0;
  for (; i < cfg.warmup; i++) rt(i);
  const samples = new Float64Array(cfg.samples);
  const end = performance.now() + cfg.timeMs;
  let k = 0;
  for (; k < cfg.samples && ((k & 255) !== 0 || performance.now() < end); k++, i++) {
    const t0 = performance.now();
    rt(i);
    samples[k] = (performance.now() - t0) * 1000;
  }
  const t0 = performance.now();
  for (let m = 0; m < k; m++, i++) rt(i);
  return { samples: samples.subarray(0, k), untimedMeanUs: ((performance.now() - t0) * 1000) / k };
}

async function measureAsync(rt: (i: number) => Promise<void>) {
  let i = 0;
  for (; i < cfg.warmup; i++) await rt(i);
  const samples = new Float64Array(cfg.samples);
  const end = performance.now() + cfg.timeMs;
  let k = 0;
  for (; k < cfg.samples && ((k & 255) !== 0 || performance.now() < end); k++, i++) {
    const t0 = performance.now();
    await rt(i);
    samples[k] = (performance.now() - t0) * 1000;
  }
  const t0 = performance.now();
  for (let m = 0; m < k; m++, i++) await rt(i);
  return { samples: samples.subarray(0, k), untimedMeanUs: ((performance.now() - t0) * 1000) / k };
}

onCtl('start', async () => {
  const overhead = timerOverheadUs();
  const { samples, untimedMeanUs } = cfg.mode === 'ring' ? measureSync(ringRoundTrip()) : await measureAsync(portRoundTrip());
  sendCtl('result', { ...summarize(samples), untimedMeanUs, timerOverheadUs: overhead });
});
ready();
