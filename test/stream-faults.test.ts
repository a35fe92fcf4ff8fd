import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RingflowError, UnknownOptionError } from '../src/errors.js';
import {
  HandlerError,
  InvalidTimestampError,
  KeySelectorError,
  SinkError,
  JobCancelledError,
  JobFailedError,
  KEPT_FAILURES,
  op,
  StreamEnvironment,
  type OperatorFailure,
  type SourceConnector,
  type SourceContext,
} from '../src/stream/index.js';

const FAULTS = new URL('./fixtures/stream-faults.ts', import.meta.url).href;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// Any unhandled rejection during a test is a failure of that test (a crash, for a user).
let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

describe('handlers that throw', () => {
  it('a throwing onError handler is contained: the job runs to its end, then execute() rejects with HandlerError naming it', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const out: number[] = [];
    let calls = 0;
    env.onError(() => {
      calls++;
      throw new Error('handler broke');
    });
    env
      .fromIterable(range(50))
      .map((x) => {
        if (x % 10 === 3) throw new Error('bad');
        return x;
      }, { name: 'risky' })
      .sink((x) => void out.push(x));
    const error = await env.execute().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(HandlerError);
    expect(error).toMatchObject({ code: 'ERR_HANDLER_FAILED', handler: 'onError', count: 5 });
    expect((error as HandlerError).message).toMatch(/onError handler threw 5 times, first: handler broke/);
    expect((error as HandlerError).result.failures).toBe(5);
    expect(calls).toBe(5);
    expect(out).toHaveLength(45);
  });

  it('a throwing or rejecting onSideOutput handler is contained the same way', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    env.onSideOutput(async () => {
      throw new Error('side broke');
    });
    const results: unknown[] = [];
    // Event time reaches 1300 (the watermark goes out every 256 records), then a record at 5 is too late: a side output.
    env
      .fromIterable([...range(300).map((i) => ({ t: 1000 + i })), { t: 5 }], { timestamp: (r) => r.t })
      .window({ tumbling: 100 })
      .reduce((a) => a, { name: 'win' })
      .sink((r) => void results.push(r));
    const error = await env.execute().then(() => null, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_HANDLER_FAILED', handler: 'onSideOutput', count: 1 });
    expect((error as HandlerError).result.sideOutputs).toBe(1);
    expect(results).toHaveLength(3); // [1000, 1100), [1100, 1200), [1200, 1300)
  });

  /** A source connector that reports every third record as bad (as a connector does with bytes it cannot decode). */
  function reportingSource(n: number): SourceConnector<number> {
    let stopped = false;
    return {
      connector: 'source',
      name: 'reporting',
      async *batches(context: SourceContext) {
        for (let at = 0; at < n && !stopped; at += 10) {
          const records: number[] = [];
          for (let i = at; i < Math.min(n, at + 10); i++) {
            if (i % 3 === 0) context.report({ operator: 'reporting', key: undefined, record: i, error: Object.assign(new Error(`cannot decode ${i}`), { code: 'ERR_DECODE' }) });
            else records.push(i);
          }
          yield { records, token: at };
        }
      },
      ack() {},
      stop() {
        stopped = true;
      },
      async close() {},
    };
  }

  it("a source connector's reported records go to onError; a throwing or rejecting handler there is contained as HandlerError too", async () => {
    for (const mode of ['throw', 'reject'] as const) {
      const env = new StreamEnvironment({ workers: 1 });
      const reported: unknown[] = [];
      env.onError((f) => {
        reported.push(f.record);
        if (mode === 'throw') throw new Error('handler broke');
        return Promise.reject(new Error('handler broke'));
      });
      const out: number[] = [];
      env.from(reportingSource(30)).map((x: number) => x).sink((x: number) => void out.push(x));
      const error = await env.execute().then(() => null, (e: unknown) => e);
      expect(error, mode).toBeInstanceOf(HandlerError);
      expect(error, mode).toMatchObject({ code: 'ERR_HANDLER_FAILED', handler: 'onError', count: 10 });
      expect((error as HandlerError).result.failures, mode).toBe(10);
      expect(reported, mode).toEqual(range(10).map((i) => i * 3));
      expect(out.sort((a, b) => a - b), mode).toEqual(range(30).filter((i) => i % 3 !== 0));
    }
    // Without a handler they are kept and counted like any failed record, and execute() says so after the run.
    const env = new StreamEnvironment({ workers: 1 });
    const out: number[] = [];
    env.from(reportingSource(30)).sink((x: number) => void out.push(x));
    const error = await env.execute().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(JobFailedError);
    expect((error as JobFailedError).message).toMatch(/operator 'reporting' failed: cannot decode 0 \(and 9 more failures\)/);
    expect(out).toHaveLength(20);
  });
});

describe('one bad record', () => {
  it('a key selector that throws or returns undefined fails only that record, named after the selector (source side and worker side)', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const failures: OperatorFailure[] = [];
    env.onError((f) => void failures.push(f));
    const a: number[] = [];
    const b: number[] = [];
    env
      .fromIterable(range(20), { name: 'numbers' })
      .keyBy((x) => {
        if (x === 3) throw new Error('no key for 3');
        return x === 4 ? undefined : x;
      })
      .map((x) => x)
      .sink((x) => void a.push(x));
    env
      .fromIterable(range(20), { name: 'more' })
      .map((x) => x * 10, { name: 'times10' })
      .keyBy((x) => {
        if (x === 70) throw new Error('no key for 70');
        return x;
      })
      .map((x) => x)
      .sink((x) => void b.push(x));
    await env.execute();
    expect(a.sort((x, y) => x - y)).toEqual(range(20).filter((x) => x !== 3 && x !== 4));
    expect(b.sort((x, y) => x - y)).toEqual(range(20).filter((x) => x !== 7).map((x) => x * 10));
    const seen = failures.map((f) => ({ operator: f.operator, record: f.record, code: f.error.code })).sort((x, y) => Number(x.record) - Number(y.record));
    expect(seen).toEqual([
      { operator: 'keyBy after numbers', record: 3, code: 'ERR_KEY_SELECTOR' },
      { operator: 'keyBy after numbers', record: 4, code: 'ERR_KEY_SELECTOR' },
      { operator: 'keyBy after times10', record: 70, code: 'ERR_KEY_SELECTOR' },
    ]);
    expect(failures.find((f) => f.record === 3)!.error.message).toMatch(/no key for 3/);
    expect(failures.find((f) => f.record === 4)!.error.message).toMatch(/undefined/);
  });

  it('a NaN timestamp from the extractor, and a vector record emitted with ts NaN, fail only that record', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const failures: OperatorFailure[] = [];
    env.onError((f) => void failures.push(f));
    const a: number[] = [];
    const b: bigint[] = [];
    env.fromIterable(range(20), { name: 'timed', timestamp: (x) => (x === 5 ? NaN : x) }).map((x) => x).sink((x) => void a.push(x));
    env
      .fromIterable(range(20))
      .map((x) => ({ uid: BigInt(x), ts: x === 6 ? NaN : x, vector: new Float32Array([x, x]) }), { name: 'vectors' })
      .sink((r) => void b.push(r.uid));
    await env.execute();
    expect(a.sort((x, y) => x - y)).toEqual(range(20).filter((x) => x !== 5));
    expect(b.sort((x, y) => Number(x - y))).toEqual(range(20).filter((x) => x !== 6).map(BigInt));
    const byOperator = Object.fromEntries(failures.map((f) => [f.operator, f.error.code]));
    expect(byOperator).toEqual({ timed: 'ERR_INVALID_TIMESTAMP', vectors: 'ERR_INVALID_TIMESTAMP' });
    expect(failures.find((f) => f.operator === 'vectors')!.record).toBe(6);
  });

  it('a timestamp that is not a number (null, true, a string, an array) fails that record; it is not coerced', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const failures: OperatorFailure[] = [];
    env.onError((f) => void failures.push(f));
    const bad: Record<number, unknown> = { 2: null, 3: true, 4: '250', 5: [300] };
    const got: number[] = [];
    env
      .fromIterable(range(10), { name: 'timed', timestamp: (x) => (x in bad ? bad[x] : x) as number })
      .map((x) => x)
      .sink((x) => void got.push(x));
    await env.execute();
    expect(got.sort((x, y) => x - y)).toEqual([0, 1, 6, 7, 8, 9]);
    expect(failures.map((f) => [f.record, f.error.code]).sort()).toEqual([2, 3, 4, 5].map((x) => [x, 'ERR_INVALID_TIMESTAMP']));
    expect(failures.every((f) => f.error instanceof InvalidTimestampError)).toBe(true);
    expect(failures.find((f) => f.record === 4)!.error.message).toMatch(/got the string "250"/);
  });

  it('errors a worker raises for a record arrive as instances of their class', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const failures: OperatorFailure[] = [];
    env.onError((f) => void failures.push(f));
    env
      .fromIterable(range(10))
      .map((x) => x, { name: 'first' })
      .keyBy((x) => {
        if (x === 3) throw new Error('no key for 3');
        return x;
      })
      .map((x) => x)
      .sink(() => {});
    await env.execute();
    expect(failures).toHaveLength(1);
    const error = failures[0]!.error;
    expect(error).toBeInstanceOf(KeySelectorError);
    expect(error).toBeInstanceOf(RingflowError);
    expect(error).toMatchObject({ code: 'ERR_KEY_SELECTOR', record: 3 });
    expect((error as KeySelectorError).operator).toMatch(/keyBy/);
  });

  it('fractional event times (10.25 ms) are valid input and land in the right windows', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const windows: { key: unknown; window: { start: number; end: number }; value: number }[] = [];
    // Windows of 10 ms: 9.75 → [0, 10), 10.25 and 19.99 → [10, 20), 20 → [20, 30).
    env
      .fromIterable([9.75, 10.25, 19.99, 20, 29.5].map((t) => ({ t, n: 1 })), { timestamp: (r) => r.t })
      .window({ tumbling: 10 })
      .aggregate({ createAccumulator: () => 0, add: (acc: number) => acc + 1 })
      .sink((r) => void windows.push(r as never));
    const vectors: number[] = [];
    env
      .fromIterable([1.5, 2.75])
      .map((t) => ({ uid: 1n, ts: t, vector: new Float32Array(2) }))
      .sink((r) => void vectors.push(r.ts));
    await env.execute();
    expect(windows.map((w) => [w.window.start, w.window.end, w.value])).toEqual([
      [0, 10, 1],
      [10, 20, 2],
      [20, 30, 2],
    ]);
    // A vector record's ts travels in whole ms (rounded down).
    expect(vectors.sort()).toEqual([1, 2]);
  });

  it('without a handler, failures are kept up to the first 100 and counted; execute() rejects after the run, naming operator, key and cause', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    let delivered = 0;
    const n = 200_000;
    env
      .fromIterable(range(n), { name: 'clock', timestamp: (x) => (x % 1000 === 999 ? x : NaN) })
      .map((x) => x)
      .sink(() => void delivered++);
    env
      .fromIterable(range(300).map((id) => ({ id, user: `u${id % 3}` })))
      .keyBy((r) => r.user)
      .map((r) => {
        if (r.id % 2 === 0) throw new Error(`even ${r.id}`);
        return r;
      }, { name: 'odd' })
      .sink(() => void delivered++);
    const error = (await env.execute().then(() => null, (e: unknown) => e)) as JobFailedError;
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error.code).toBe('ERR_JOB_FAILED');
    expect(error.failures).toHaveLength(KEPT_FAILURES);
    expect(error.result!.failures).toBe(n - n / 1000 + 150);
    expect(delivered).toBe(n / 1000 + 150);
    expect(error.message).toMatch(/more failures; the first 100 are in error\.failures/);
    const odd = error.failures.find((f) => f.operator === 'odd');
    if (odd) expect(odd).toMatchObject({ key: `u${(odd.record as { id: number }).id % 3}` });
  }, 60_000);
});

describe('sinks', () => {
  it("a sink's error names the sink; with onError the sink's bad record is reported and the rest delivered", async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const failures: OperatorFailure[] = [];
    env.onError((f) => void failures.push(f));
    const out: number[] = [];
    env.fromIterable(range(10)).map((x) => x).sink((x) => {
      if (x === 4) throw new Error('cannot store 4');
      out.push(x);
    }, { name: 'store' });
    env.fromIterable(range(3)).map((x) => x).sink(async (x) => {
      if (x === 1) throw new Error('async no');
    });
    await env.execute();
    expect(out).toEqual(range(10).filter((x) => x !== 4));
    expect(failures.map((f) => [f.operator, f.record, f.error.code, f.error.message]).sort()).toEqual([
      ['sink', 1, 'ERR_SINK_FAILED', "sink 'sink' failed: async no"],
      ['store', 4, 'ERR_SINK_FAILED', "sink 'store' failed: cannot store 4"],
    ]);

    const bare = new StreamEnvironment({ workers: 1 });
    bare.fromIterable(range(5)).map((x) => x).sink(() => {
      throw new Error('full');
    });
    await expect(bare.execute()).rejects.toThrow(/sink 'sink' failed: full/);
  });

  it("without a handler, a sink's error stops the job carrying the record and the job's counts", async () => {
    const env = new StreamEnvironment({ workers: 1 });
    let delivered = 0;
    env.fromIterable(range(50_000), { name: 'numbers' }).map((x) => x).sink((x) => {
      if (x === 20_000) throw new Error('disk full');
      delivered++;
    }, { name: 'store' });
    const error = (await env.execute().catch((e: unknown) => e)) as SinkError;
    expect(error).toBeInstanceOf(SinkError);
    expect(error).toMatchObject({ code: 'ERR_SINK_FAILED', sink: 'store', record: 20_000 });
    expect(error.message).toMatch(/sink 'store' failed: disk full; the job stopped .*error\.result/);
    const result = error.result as { sources: Record<string, number>; sinks: Record<string, number> };
    // Handed to the sink: what it took, and the record it failed on.
    expect(result.sinks.store).toBe(delivered + 1);
    expect(result.sources.numbers).toBeGreaterThanOrEqual(20_001);
  });
});

describe('cancellation', () => {
  it('execute({ signal }) rejects with a coded AbortError, stopping an endless source', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    const controller = new AbortController();
    let delivered = 0;
    let i = 0;
    env.fromSource(() => i++).map((x) => x).sink(() => {
      if (++delivered === 100) controller.abort(new Error('enough'));
    });
    const error = await env.execute({ signal: controller.signal }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(JobCancelledError);
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect((error as Error).message).toMatch(/cancelled: enough/);
    const sent = i;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(i).toBe(sent); // the source stopped
    // An already aborted signal cancels before anything runs.
    const again = new StreamEnvironment({ workers: 1 });
    again.fromIterable(range(10)).map((x) => x).sink(() => {});
    await expect(again.execute({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORT_ERR' });
  });

  it('job.cancel() terminates a worker stuck in a loop; env.close() cancels a running job', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    let pulled = 0;
    env.fromSource(() => pulled++).map((x) => {
      if (x === 5) for (;;) {}
      return x;
    }).sink(() => {});
    const job = env.start();
    while (pulled < 100) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the operator is spinning by now
    job.cancel();
    await expect(job.done).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });

    const env2 = new StreamEnvironment({ workers: 1 });
    let n = 0;
    env2.fromSource(() => n++).map((x) => x).sink(() => {});
    const done = env2.execute().then(() => null, (e: unknown) => e);
    while (n < 1000) await new Promise((resolve) => setTimeout(resolve, 10));
    await env2.close();
    expect(await done).toMatchObject({ code: 'ABORT_ERR' });
    const stoppedAt = n;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(n).toBe(stoppedAt);
  });

  it('a process whose pipeline was cancelled (operator stuck in a loop) exits on its own', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/stream-cancel-child.ts', import.meta.url))], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('did not exit');
      }, 40_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c ?? -1);
      });
    });
    expect({ code, output: output.trim() }).toEqual({ code: 0, output: 'rejected AbortError ABORT_ERR' });
  }, 60_000);
});

describe('hung services', () => {
  it('execute() settles when a service an operator calls hangs, and env.close() is bounded', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    env.registerService('hang', op(FAULTS, 'HangService'), { placement: 'worker', timeoutMs: 1000 });
    const failures: OperatorFailure[] = [];
    env.onError((f) => void failures.push(f));
    const out: unknown[] = [];
    env.fromIterable(range(6)).map(op(FAULTS, 'callHang'), { name: 'caller' }).sink((x) => void out.push(x));
    await env.execute();
    // Record 3's call times out; until the services notice the hung instance and replace it, later calls to it time out too.
    expect(failures[0]).toMatchObject({ operator: 'caller', record: 3, error: { code: 'ERR_TIMEOUT' } });
    expect(out.length + failures.length).toBe(6);
    await env.close({ timeoutMs: 5_000 }).catch((e: { code: string }) => expect(e.code).toBe('ERR_TIMEOUT'));
  }, 60_000);
});

describe('options', () => {
  it('misspelt options are refused up front, naming the valid ones', () => {
    const env = new StreamEnvironment({ workers: 1 });
    const cases: [() => unknown, RegExp][] = [
      [() => new StreamEnvironment({ worker: 2 } as never), /StreamEnvironment: unknown option 'worker' \(valid: workers, ringCapacity/],
      [() => env.fromIterable([1], { timestmap: () => 1 } as never), /unknown option 'timestmap'.*timestamp/],
      [() => env.fromIterable([1]).map((x) => x, { paralelism: 2 } as never), /map: unknown option 'paralelism'.*parallelism/],
      [() => env.fromIterable([1]).sink(() => {}, { nmae: 'x' } as never), /sink: unknown option 'nmae'.*name/],
      [() => env.fromIterable([1]).keyBy((x) => x, { stratgy: 'hash' } as never), /keyBy: unknown option 'stratgy'.*strategy/],
      [() => env.fromIterable([1]).window({ tumbling: 10, allowedLateness: 5 } as never), /window: unknown option 'allowedLateness'.*allowedLatenessMs/],
      [() => env.start({ sigal: null } as never), /execute: unknown option 'sigal'.*signal/],
    ];
    for (const [call, message] of cases) {
      let error: unknown;
      try {
        const result = call();
        if (result instanceof Promise) result.catch(() => {});
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UnknownOptionError);
      expect(error).toMatchObject({ code: 'ERR_UNKNOWN_OPTION' });
      expect((error as Error).message).toMatch(message);
    }
  });
});
