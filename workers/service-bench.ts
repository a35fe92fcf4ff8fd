/**
 * Helpers for bench/suites/services.ts, in one module:
 * - `BenchService`: the service the benchmark calls (registered with op(this module, 'BenchService'));
 * - run as a worker entry (spawnWorker) with workerData.role:
 *   'rpc'      — the postMessage RPC baseline: answers { id, method, args } with { id, result };
 *   'operator' — an operator in a worker calling a worker service with callSync back to back;
 *                measures each call inside the worker and reports p50/p99 (µs).
 */
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ServiceClient, type ServiceClientHandle } from '../src/service/index.js';

export class BenchService {
  add(a: number, b: number): number {
    return a + b;
  }
}

interface OperatorData {
  role: 'operator';
  handle: ServiceClientHandle;
  service: string;
  warmup: number;
  samples: number;
}

function rpcEcho(): void {
  const service = new BenchService();
  parentPort!.on('message', (m: { id: number; method: 'add'; args: [number, number] }) => {
    parentPort!.postMessage({ id: m.id, result: service[m.method](...m.args) });
  });
  parentPort!.postMessage({ ctl: 'ready' });
}

function operator(data: OperatorData): void {
  parentPort!.postMessage({ ctl: 'ready' });
  const client = ServiceClient.connect(data.handle);
  const svc = client.services[data.service]!;
  for (let i = 0; i < data.warmup; i++) svc.add!(i, 1);
  const clock = clockOverheadMicros();
  const samples = new Float64Array(data.samples);
  let check = 0;
  for (let i = 0; i < data.samples; i++) {
    const t = performance.now();
    check += svc.add!(i, 1) as number;
    samples[i] = (performance.now() - t) * 1000 - clock;
  }
  const expected = (data.samples * (data.samples - 1)) / 2 + data.samples;
  if (check !== expected) throw new Error(`operator got wrong results: ${check} != ${expected}`);
  samples.sort();
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  let sum = 0;
  for (const s of samples) sum += s;
  client.close();
  parentPort!.postMessage({ ctl: 'result', p50: at(0.5), p99: at(0.99), min: samples[0], mean: sum / samples.length, samples: samples.length, clock });
}

/**
 * What timing one call with two clock reads adds to it: the end of the first read and the start
 * of the second, i.e. the median gap between two back-to-back reads (~0.1 µs on a VM whose clock
 * is a system call, a few ns elsewhere). Subtracted from every sample, so a sample is the call.
 */
function clockOverheadMicros(): number {
  const gaps = new Float64Array(20_000);
  for (let i = 0; i < gaps.length; i++) {
    const t = performance.now();
    gaps[i] = (performance.now() - t) * 1000;
  }
  gaps.sort();
  return gaps[gaps.length >> 1]!;
}

const role = !isMainThread ? (workerData as { role?: string } | null)?.role : undefined;
if (role === 'rpc') rpcEcho();
else if (role === 'operator') operator(workerData as OperatorData);
