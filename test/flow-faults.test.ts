import { describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { SageFlowService } from '../src/flow/index.js';
import { spawnWorker } from '../src/pool/index.js';
import { recordBatchSize } from '../src/codec/index.js';

// Faults around SageFlowService (issue 10): pushes from other threads, dead pushers, closing,
// sinks and operators that throw. Every pusher is a real worker thread writing into the inbox.

const PUSHER = new URL('./fixtures/flow-pusher.ts', import.meta.url);
const DEAD_PUSHER = new URL('./fixtures/flow-dead-pusher.ts', import.meta.url);

interface PushReport {
  pushed: number;
  error?: { name: string; code?: string; message: string };
}

/** A pusher thread; resolves with its report once it has exited, or rejects after `ms` (a hang). */
function pusher(data: Record<string, unknown>, ms = 20_000): Promise<PushReport> {
  const worker = spawnWorker(PUSHER, data);
  return new Promise<PushReport>((resolve, reject) => {
    let report: PushReport | undefined;
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`a pusher did not finish within ${ms} ms (blocked)`));
    }, ms);
    worker.on('message', (m: PushReport) => (report = m));
    worker.once('error', reject);
    worker.once('exit', () => {
      clearTimeout(timer);
      if (report) resolve(report);
      else reject(new Error('the pusher exited without a report'));
    });
  });
}

const vec8 = (i: number) => Float32Array.from({ length: 8 }, (_, d) => i + d);

describe('SageFlowService faults', () => {
  it('drains pushes from other threads before the first run(): 3 workers × 20 000 dim-8 pushes never block', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 1 });
    const uids = new Set<bigint>();
    svc.setSink((uid) => void uids.add(uid));
    // 60 000 frames of 88 bytes: more than the 4 MiB inbox holds, and nobody calls run() meanwhile.
    const reports = await Promise.all([0, 1, 2].map((w) => pusher({ handle: svc.handle, base: w * 100_000, count: 20_000 })));
    expect(reports.map((r) => r.error)).toEqual([undefined, undefined, undefined]);
    expect(await svc.run()).toBe(60_000);
    expect(uids.size).toBe(60_000);
    await svc.close();
  }, 60_000);

  it('past queueMemory a push from another thread waits its timeout, then throws ERR_QUEUE_FULL; what it accepted is run', async () => {
    // Room for 2 queue batches of 256 rows and an inbox of 64 KiB: 5 000 pushes do not fit.
    const svc = new SageFlowService({ dim: 8, workers: 1, queueMemory: 2 * recordBatchSize(256, 8, 'Float32'), inboxCapacity: 1 << 16 });
    let delivered = 0;
    svc.setSink(() => void delivered++);
    const report = await pusher({ handle: svc.handle, base: 0, count: 5000, pushTimeoutMs: 200 });
    expect(report.error).toMatchObject({ name: 'SageFlowQueueFullError', code: 'ERR_QUEUE_FULL' });
    expect(report.pushed).toBeGreaterThanOrEqual(512);
    expect(report.pushed).toBeLessThan(5000);
    // Every push that returned is delivered; the refused one is not.
    expect(await svc.run()).toBe(report.pushed);
    expect(delivered).toBe(report.pushed);
    // Room again: the next pusher gets through.
    const again = await pusher({ handle: svc.handle, base: 10_000, count: 300, pushTimeoutMs: 5000 });
    expect(again).toEqual({ pushed: 300 });
    expect(await svc.run()).toBe(300);
    await svc.close();
  }, 60_000);

  it(
    'a pusher thread that dies between claim and commit does not wedge the inbox',
    async () => {
      const svc = new SageFlowService({ dim: 8, workers: 1, inboxCapacity: 1 << 16 });
      const uids = new Set<bigint>();
      svc.setSink((uid) => void uids.add(uid));
      const dead: Worker = spawnWorker(DEAD_PUSHER, { handle: svc.handle });
      await new Promise((resolve, reject) => dead.once('message', resolve).once('error', reject));
      await dead.terminate();
      // 3 000 frames: more than the 64 KiB inbox holds behind the dead claim.
      const report = await pusher({ handle: svc.handle, base: 0, count: 3000 });
      expect(report).toEqual({ pushed: 3000 });
      expect(await svc.run()).toBe(3000);
      expect(uids.size).toBe(3000);
      expect(svc.inboxStats().unblocked).toBe(1);
      await svc.close();
    },
    60_000,
  );

  it('run() then close(): the run completes, and close() runs what was pushed after it', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 2 });
    svc.transform((s) => s.map((r) => r));
    const uids: bigint[] = [];
    svc.setSink((uid) => void uids.push(uid));
    for (let i = 0; i < 50_000; i++) svc.push(i, vec8(i));
    const run = svc.run();
    // The run has taken the queue once it has started: these are for a later run.
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 50_000; i < 50_500; i++) svc.push(i, vec8(i));
    await svc.close();
    expect(await run).toBe(50_000);
    expect(uids).toHaveLength(50_500);
    expect(new Set(uids).size).toBe(50_500);
    await expect(svc.run()).rejects.toMatchObject({ code: 'ERR_SERVICE_STATE' });
    expect(() => svc.push(1, vec8(1))).toThrow(expect.objectContaining({ code: 'ERR_SERVICE_STATE' }));
  }, 60_000);

  it('run() before setSink() fails clearly and keeps the queue for the next run', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 1 });
    for (let i = 0; i < 10; i++) svc.push(i, vec8(i));
    await expect(svc.run()).rejects.toMatchObject({ code: 'ERR_SERVICE_STATE', message: expect.stringMatching(/setSink/) });
    expect(svc.queued).toBe(10);
    const uids: bigint[] = [];
    svc.setSink((uid) => void uids.push(uid));
    expect(await svc.run()).toBe(10);
    expect(uids).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)));
    await svc.close();
  }, 30_000);

  it('a sink that throws once rejects that run with ERR_SINK_FAILED naming the sink; later runs and close() work', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 2 });
    svc.transform((s) => s.map((r) => r));
    let thrown = false;
    const uids: bigint[] = [];
    svc.setSink((uid) => {
      if (uid === 5n && !thrown) {
        thrown = true;
        throw new Error('disk full');
      }
      uids.push(uid);
    }, 'archive');
    for (let i = 0; i < 1000; i++) svc.push(i, vec8(i));
    const failed = await svc.run().then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; sink?: string },
    );
    expect(failed).toMatchObject({ name: 'SageFlowSinkError', code: 'ERR_SINK_FAILED', sink: 'archive' });
    expect(failed!.message).toMatch(/sink 'archive'.*disk full/);
    // The rest of the run was still delivered; only the record the sink threw on is missing.
    expect(uids).toHaveLength(999);
    for (let i = 1000; i < 1100; i++) svc.push(i, vec8(i));
    expect(await svc.run()).toBe(100);
    expect(uids).toHaveLength(1099);
    await expect(svc.close()).resolves.toBeUndefined();
  }, 30_000);

  it('an async sink that rejects fails that run the same way', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 1 });
    svc.setSink(async (uid) => {
      if (uid === 3n) throw new Error('later');
    }, 'slow');
    for (let i = 0; i < 10; i++) svc.push(i, vec8(i));
    await expect(svc.run()).rejects.toMatchObject({ code: 'ERR_SINK_FAILED', sink: 'slow' });
    svc.push(20, vec8(20));
    expect(await svc.run()).toBe(1);
    await svc.close();
  }, 30_000);

  it('an operator that throws without a handler rejects that run (naming the operator), and the pipeline stays up', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 2 });
    svc.transform((s) =>
      s.map(
        (r) => {
          if (r.uid === 500n) throw new Error('bad row');
          return r;
        },
        { name: 'scale' },
      ),
    );
    const uids: bigint[] = [];
    svc.setSink((uid) => void uids.push(uid));
    for (let i = 0; i < 1000; i++) svc.push(i, vec8(i));
    const failed = await svc.run().then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; failures?: unknown[] },
    );
    expect(failed).toMatchObject({ name: 'SageFlowRunError', code: 'ERR_OPERATOR_FAILED' });
    expect(failed!.message).toMatch(/operator 'scale'.*bad row/);
    expect(failed!.failures).toHaveLength(1);
    expect(uids).toHaveLength(999);
    for (let i = 1000; i < 1010; i++) svc.push(i, vec8(i));
    expect(await svc.run()).toBe(10);
    await expect(svc.close()).resolves.toBeUndefined();
  }, 30_000);

  it('with env.onError set, operator failures go to the handler and the run resolves', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 1 });
    svc.transform((s) =>
      s.map((r) => {
        if (r.uid % 100n === 0n) throw new Error('no');
        return r;
      }),
    );
    const failed: unknown[] = [];
    svc.env.onError((f) => void failed.push(f.record));
    let delivered = 0;
    svc.setSink(() => void delivered++);
    for (let i = 0; i < 1000; i++) svc.push(i, vec8(i));
    expect(await svc.run()).toBe(1000);
    expect(delivered).toBe(990);
    expect(failed).toHaveLength(10);
    await svc.close();
  }, 30_000);

  it('a push of 1e300 into a Float32 service is refused with ERR_OUT_OF_RANGE from a worker and from the main thread', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 1 });
    const got: number[] = [];
    svc.setSink((_uid, _ts, vec) => void got.push(vec[0]!));
    const report = await pusher({ handle: svc.handle, base: 0, count: 1, value: 1e300 });
    expect(report.pushed).toBe(0);
    expect(report.error).toMatchObject({ name: 'ValueOutOfRangeError', code: 'ERR_OUT_OF_RANGE' });
    expect(() => svc.push(1, new Array(8).fill(1e300))).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    // Values a Float32 holds (rounded) are fine.
    svc.push(2, new Array(8).fill(3.4e38));
    expect(await svc.run()).toBe(1);
    expect(got).toEqual([Math.fround(3.4e38)]);
    await svc.close();
  }, 30_000);

  it('close() is bounded: a transform that never returns is cancelled, its threads terminated, ERR_CLOSE_TIMEOUT', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 1 });
    svc.transform((s) =>
      s.map((r) => {
        if (r.uid === 5n) for (;;);
        return r;
      }),
    );
    svc.setSink(() => {});
    for (let i = 0; i < 10; i++) svc.push(i, vec8(i));
    const run = svc.run();
    run.catch(() => undefined);
    const started = performance.now();
    await expect(svc.close({ timeoutMs: 500 })).rejects.toMatchObject({ name: 'SageFlowCloseTimeoutError', code: 'ERR_CLOSE_TIMEOUT' });
    expect(performance.now() - started).toBeLessThan(10_000);
    await expect(run).rejects.toBeDefined();
  }, 30_000);

  it('close() is bounded when a sink promise never settles', async () => {
    const svc = new SageFlowService({ dim: 8, workers: 1 });
    svc.setSink(() => new Promise(() => {}));
    for (let i = 0; i < 10; i++) svc.push(i, vec8(i));
    await expect(svc.close({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'ERR_CLOSE_TIMEOUT' });
  }, 30_000);

  it('misspelled options are refused with ERR_UNKNOWN_OPTION naming the valid ones', async () => {
    expect(() => new SageFlowService({ dtyp: 'Float64' } as never)).toThrow(expect.objectContaining({ name: 'UnknownOptionError', code: 'ERR_UNKNOWN_OPTION' }));
    const svc = new SageFlowService({ dim: 8, workers: 1 });
    expect(() => svc.setSink(() => {}, 'sink', { vectorView: true } as never)).toThrow(/unknown option 'vectorView' \(valid: vectorViews\)/);
    expect(() => SageFlowService.connect(svc.handle, { pushTimeoutMS: 5 } as never)).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_OPTION' }));
    await expect(svc.close({ timeout: 5 } as never)).rejects.toMatchObject({ code: 'ERR_UNKNOWN_OPTION' });
    await svc.close();
  }, 30_000);
});
