import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRegistry } from '../src/metrics/index.js';
import { instanceForKey } from '../src/state/index.js';
import { JobFailedError, StreamEnvironment, type OperatorFailure } from '../src/stream/index.js';
import { ArraySource, LedgerSink } from './helpers/state-connectors.js';
import { tempStateDir } from './helpers/state.js';

const temp = tempStateDir();
afterAll(() => temp.remove());
let dirs = 0;
const freshDir = () => path.join(temp.dir, `run-${++dirs}`);

interface Order {
  seq: number;
  user: string;
  amount: number;
}

const orders = (n: number, users = 97): Order[] => Array.from({ length: n }, (_, seq) => ({ seq, user: `u${(seq * 7919) % users}`, amount: (seq % 13) + 1 }));

/** The single-thread answer: each user's total. */
function linearTotals(items: readonly Order[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const o of items) totals.set(o.user, (totals.get(o.user) ?? 0) + o.amount);
  return totals;
}

/** keyBy(user) → a map that adds the amount to the user's total and emits it. */
function totalsPipeline(env: StreamEnvironment, source: ArraySource<Order> | Order[], sink?: LedgerSink<{ seq: number; user: string; total: number }>) {
  env.table<number>('totals', { default: () => 0 });
  const stream = Array.isArray(source) ? env.fromIterable(source) : env.from(source);
  const totals = stream.keyBy((o) => o.user).map((o, ctx) => {
    const t = ctx.table<number>('totals');
    const total = (t.get(o.user) as number) + o.amount;
    t.set(o.user, total);
    return { seq: o.seq, user: o.user, total, instance: ctx.instance };
  });
  if (sink) totals.to(sink);
  else totals.sink(() => {});
}

async function tableMap(env: StreamEnvironment, name: string): Promise<Map<string, number>> {
  return new Map((await env.tables.entries(name)) as [string, number][]);
}

describe('tables in a pipeline', () => {
  it('co-partitions tables with keyBy on 2 instances: every key on its owner, totals exact', async () => {
    const items = orders(20_000);
    const env = new StreamEnvironment({ workers: 2 });
    env.table<number>('totals', { default: () => 0 });
    const seen: { user: string; instance: number }[] = [];
    env
      .fromIterable(items)
      .keyBy((o) => o.user)
      .map((o, ctx) => {
        ctx.table<number>('totals').update(o.user, (n) => n + o.amount);
        return { user: o.user, instance: ctx.instance };
      })
      .sink((r) => void seen.push(r));
    await env.execute();
    for (const r of seen) expect(r.instance).toBe(instanceForKey(r.user, 2));
    expect(new Set(seen.map((r) => r.instance)).size).toBe(2);
    expect(await tableMap(env, 'totals')).toEqual(linearTotals(items));
    expect(await env.tables.get('totals', 'u5')).toBe(linearTotals(items).get('u5'));
    expect(await env.tables.get('totals', 'nobody')).toBe(0); // the default
  }, 60_000);

  it('a key another instance owns throws TableKeyOwnershipError; ctx.table outside the keyed stage or of an unknown name is a coded error', async () => {
    const env = new StreamEnvironment({ workers: 2 });
    env.table<number>('totals', { default: () => 0 });
    const failures: OperatorFailure[] = [];
    env.onError((f) => void failures.push(f));
    env
      .fromIterable(orders(400, 10))
      .map((o, ctx) => {
        if (o.seq === 0) ctx.table('totals'); // not keyed yet
        return o;
      })
      .keyBy((o) => o.user)
      .map((o, ctx) => {
        if (o.seq === 1) ctx.table('nope');
        // Every instance writes every user once: half of them belong to the other instance.
        ctx.table<number>('totals').set(`${o.user}`, 1);
        ctx.table<number>('totals').set(`${o.user}x`, 1);
        return o;
      })
      .sink(() => {});
    await env.execute();
    const codes = failures.map((f) => f.error.code);
    expect(codes.filter((c) => c === 'ERR_TABLE_NOT_KEYED')).toHaveLength(1);
    expect(codes.filter((c) => c === 'ERR_UNKNOWN_TABLE')).toHaveLength(1);
    const owned = failures.filter((f) => f.error.code === 'ERR_TABLE_KEY_OWNERSHIP');
    expect(owned.length).toBeGreaterThan(0);
    // Keys of the record (routed to their owner) never fail; only the `x` keys of another owner do.
    for (const f of owned) expect(instanceForKey(`${(f.record as Order).user}x`, 2)).not.toBe(instanceForKey((f.record as Order).user, 2));
  }, 60_000);

  it('a windowed table counts per window through the pipeline; windows expire by the watermark, also on an instance that gets no more writes', async () => {
    // Four users for 4 s (50 events per user and second), then only `late` for 6 s more.
    const late = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'].find((u) => instanceForKey(u, 2) !== instanceForKey('u0', 2))!;
    const events = [
      ...Array.from({ length: 800 }, (_, i) => ({ user: `u${i % 4}`, ts: Math.floor(i / 200) * 1000 + (i % 200) * 5 })),
      ...Array.from({ length: 2000 }, (_, i) => ({ user: late, ts: 4000 + i * 3 })),
    ];
    const env = new StreamEnvironment({ workers: 2 });
    env.table<number>('per-second', { default: () => 0 }).tumbling(1000, { expiresMs: 1500 });
    const seen: { user: string; n: number }[] = [];
    env
      .fromIterable(events, { timestamp: (e) => e.ts })
      .keyBy((e) => e.user)
      .map((e, ctx) => {
        const t = ctx.table<number>('per-second');
        t.update(e.user, (n) => n + 1);
        return { user: e.user, n: (t.get(e.user) as { current(): number }).current() };
      })
      .sink((r) => void seen.push(r));
    await env.execute();
    expect(Math.max(...seen.filter((r) => r.user !== late).map((r) => r.n))).toBe(50);
    expect(Math.max(...seen.filter((r) => r.user === late).map((r) => r.n))).toBe(334);
    const entries = (await env.tables.entries('per-second')) as [string, number, { start: number; end: number }][];
    // Table time reached 9997: windows ending before 9997 - 1500 have closed and are gone — on the
    // other instance too, whose writes stopped at 3995 (there the watermark closed them).
    expect(entries.map(([key, , w]) => `${key}@${w.start}`).sort()).toEqual([`${late}@8000`, `${late}@9000`]);
    expect(entries.find(([, , w]) => w.start === 8000)![1]).toBe(333);
  }, 60_000);
});

describe('checkpoints and recovery', () => {
  it('a job cancelled after checkpoints resumes in a new environment: tables and committed output exact', async () => {
    const dir = freshDir();
    const items = orders(6000);
    const sink = new LedgerSink<{ seq: number; user: string; total: number }>();
    const first = new StreamEnvironment({ workers: 2, appId: 'shop', stateDir: dir, checkpointIntervalMs: 50 });
    const slow = new ArraySource('orders', items, { batchSize: 50, delayMs: 4 });
    totalsPipeline(first, slow, sink);
    const job = first.start();
    while ((job.snapshot().checkpoints?.count ?? 0) < 3) await new Promise((r) => setTimeout(r, 20));
    job.cancel('simulated crash');
    await expect(job.done).rejects.toMatchObject({ code: 'ABORT_ERR' });
    const committedAt = slow.acked.at(-1)!;
    expect(committedAt).toBeGreaterThan(0);
    expect(committedAt).toBeLessThan(items.length);

    const second = new StreamEnvironment({ workers: 2, appId: 'shop', stateDir: dir, checkpointIntervalMs: 50 });
    const source = new ArraySource('orders', items, { batchSize: 200 });
    totalsPipeline(second, source, sink);
    const result = await second.execute();
    expect(source.seeks[0]).toBeGreaterThanOrEqual(committedAt);
    expect(sink.recovered.at(-1)?.checkpointId).toBeGreaterThan(0);
    expect(await tableMap(second, 'totals')).toEqual(linearTotals(items));
    // Every order's derived record exactly once in the committed output, with the right running total.
    const out = sink.output;
    expect(out.map((r) => r.seq).sort((a, b) => a - b)).toEqual(items.map((o) => o.seq));
    const running = new Map<string, number>();
    const expected = new Map<number, number>();
    for (const o of items) expected.set(o.seq, running.set(o.user, (running.get(o.user) ?? 0) + o.amount).get(o.user)!);
    for (const r of out) expect(r.total).toBe(expected.get(r.seq));
    expect(result.checkpoints!.count).toBeGreaterThan(0);
    // The metrics hooks: job.snapshot().checkpoints, as Prometheus series.
    const registry = createRegistry(() => second.metrics());
    const text = await registry.metrics();
    registry.close();
    expect(text).toContain(`ringflow_checkpoints_total ${result.checkpoints!.count}`);
    expect(text).toContain(`ringflow_table_entries{table="totals"} ${linearTotals(items).size}`);
    expect(text).toMatch(/ringflow_checkpoint_size_bytes [1-9]/);
  }, 90_000);

  it('a resumed run whose checkpoints come before its source\'s first batch keeps the resume position: the run after it is still exact', async () => {
    const dir = freshDir();
    const items = orders(4000);
    const first = new StreamEnvironment({ workers: 2, appId: 'early', stateDir: dir, checkpointIntervalMs: 50 });
    const slow = new ArraySource('orders', items, { batchSize: 50, delayMs: 4 });
    totalsPipeline(first, slow);
    const job = first.start();
    while ((job.snapshot().checkpoints?.count ?? 0) < 2) await new Promise((r) => setTimeout(r, 20));
    job.cancel();
    await job.done.catch(() => {});
    const resumedAt = slow.acked.at(-1)!;
    expect(resumedAt).toBeGreaterThan(0);

    // The second run commits checkpoints while its source has sent nothing yet, then dies.
    const second = new StreamEnvironment({ workers: 2, appId: 'early', stateDir: dir, checkpointIntervalMs: 50 });
    const late = new ArraySource('orders', items, { batchSize: 50, startDelayMs: 60_000 });
    totalsPipeline(second, late);
    const idle = second.start();
    while ((idle.snapshot().checkpoints?.count ?? 0) < 2) await new Promise((r) => setTimeout(r, 20));
    expect(idle.snapshot().sources.orders ?? 0).toBe(0); // its first batch is a minute away
    idle.cancel();
    await idle.done.catch(() => {});

    const third = new StreamEnvironment({ workers: 2, appId: 'early', stateDir: dir, checkpointIntervalMs: 50 });
    const rest = new ArraySource('orders', items, { batchSize: 500 });
    totalsPipeline(third, rest);
    await third.execute();
    expect(rest.seeks[0]).toBeGreaterThanOrEqual(resumedAt);
    expect(await tableMap(third, 'totals')).toEqual(linearTotals(items));
  }, 90_000);

  /** Runs with `from` workers until 2 checkpoints are committed, cancels, then finishes with `to` workers. */
  async function repartition(from: number, to: number): Promise<void> {
    const dir = freshDir();
    const items = orders(5000, 300);
    const first = new StreamEnvironment({ workers: from, appId: 'rp', stateDir: dir, checkpointIntervalMs: 50 });
    totalsPipeline(first, new ArraySource('orders', items, { batchSize: 50, delayMs: 4 }));
    const job = first.start();
    while ((job.snapshot().checkpoints?.count ?? 0) < 2) await new Promise((r) => setTimeout(r, 20));
    job.cancel();
    await job.done.catch(() => {});
    const second = new StreamEnvironment({ workers: to, appId: 'rp', stateDir: dir, checkpointIntervalMs: 50 });
    const source = new ArraySource('orders', items, { batchSize: 500 });
    totalsPipeline(second, source);
    await second.execute();
    expect(source.seeks[0]).toBeGreaterThan(0);
    expect(await tableMap(second, 'totals')).toEqual(linearTotals(items));
  }

  it('re-partitions 2 → 1 on restore, exact', () => repartition(2, 1), 90_000);
  it('re-partitions 1 → 2 on restore, exact', () => repartition(1, 2), 90_000);

  it('refuses a stateDir of other tables or of another app before anything runs', async () => {
    const dir = freshDir();
    const items = orders(500);
    const env = new StreamEnvironment({ workers: 1, appId: 'shop', stateDir: dir });
    totalsPipeline(env, new ArraySource('orders', items));
    await env.execute();

    const changed = new StreamEnvironment({ workers: 1, appId: 'shop', stateDir: dir });
    changed.table('extra');
    const source = new ArraySource('orders', items);
    totalsPipeline(changed, source);
    await expect(changed.execute()).rejects.toMatchObject({ code: 'ERR_STATE_DECLARATIONS_CHANGED', message: expect.stringMatching(/table 'extra' is new/) });
    expect(source.batchesCalls).toBe(0);

    const nested = new StreamEnvironment({ workers: 1, appId: 'other', stateDir: path.join(dir, 'shop') });
    const source2 = new ArraySource('orders', items);
    totalsPipeline(nested, source2);
    await expect(nested.execute()).rejects.toMatchObject({ code: 'ERR_STATE_APP_MISMATCH' });
    expect(source2.batchesCalls).toBe(0);
  }, 60_000);

  /** The totals job whose operator kills its worker once, at order 2500. */
  function crashingJob(env: StreamEnvironment, source: ArraySource<Order> | Iterable<Order>, sink?: LedgerSink<{ seq: number; user: string; total: number }>) {
    env.share('crash', new SharedArrayBuffer(4));
    env.table<number>('totals', { default: () => 0 });
    const stream = source instanceof ArraySource ? env.from(source) : env.fromIterable(source);
    const out = stream.keyBy((o) => o.user).map((o, ctx) => {
      if (o.seq === 2500 && Atomics.compareExchange(new Int32Array(ctx.shared.crash!), 0, 0, 1) === 0) process.exit(1);
      const t = ctx.table<number>('totals');
      const total = (t.get(o.user) as number) + o.amount;
      t.set(o.user, total);
      return { seq: o.seq, user: o.user, total };
    });
    if (sink) out.to(sink);
    else out.sink(() => {});
  }

  it('a worker that exits mid-run rolls the job back to its last checkpoint: it succeeds with exact tables and output', async () => {
    const items = orders(5000);
    const env = new StreamEnvironment({ workers: 2, appId: 'crash', stateDir: freshDir(), checkpointIntervalMs: 50, restart: { maxRestarts: 2 } });
    const sink = new LedgerSink<{ seq: number; user: string; total: number }>();
    const warnings: string[] = [];
    env.onWarning((w) => void warnings.push(w.code));
    const source = new ArraySource('orders', items, { batchSize: 50, delayMs: 2 });
    crashingJob(env, source, sink);
    const result = await env.execute();
    expect(result.restarts).toBe(1);
    expect(warnings).toContain('STATE_RESTART');
    expect(source.batchesCalls).toBe(2);
    expect(await tableMap(env, 'totals')).toEqual(linearTotals(items));
    expect(sink.output.map((r) => r.seq).sort((a, b) => a - b)).toEqual(items.map((o) => o.seq));

    // An array source replays too.
    const again = new StreamEnvironment({ workers: 2, appId: 'crash', stateDir: freshDir(), checkpointIntervalMs: 20, restart: { maxRestarts: 1 } });
    crashingJob(again, items);
    expect((await again.execute()).restarts).toBe(1);
    expect(await tableMap(again, 'totals')).toEqual(linearTotals(items));
  }, 90_000);

  it('without restarts left (or with a source that cannot replay) a crashed worker fails the job with ERR_JOB_FAILED', async () => {
    const items = orders(5000);
    const env = new StreamEnvironment({ workers: 2, appId: 'crash', stateDir: freshDir(), checkpointIntervalMs: 50 });
    crashingJob(env, new ArraySource('orders', items, { batchSize: 100 }));
    // The error names the stage whose thread died (keyBy→map, one of its 2 instances).
    await expect(env.execute()).rejects.toMatchObject({
      code: 'ERR_JOB_FAILED',
      workerCrashed: true,
      message: expect.stringMatching(/the worker thread running stage '[^']*map[^']*' \(instance [01] of 2\) failed: .*exit/),
    });

    const once = new StreamEnvironment({ workers: 2, appId: 'crash', stateDir: freshDir(), restart: { maxRestarts: 1 } });
    crashingJob(
      once,
      (function* () {
        yield* items;
      })(),
    );
    const error = (await once.execute().catch((e: unknown) => e)) as JobFailedError;
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error.message).toMatch(/every source must be replayable/);
  }, 90_000);

  it('stop() ends the job with a final checkpoint: the next run resumes right after what was processed', async () => {
    const dir = freshDir();
    const items = orders(6000);
    const env = new StreamEnvironment({ workers: 2, appId: 'stop', stateDir: dir, checkpointIntervalMs: 600_000 });
    // The first 3000 orders, then the source waits for more (as a tailing reader would).
    const source = new ArraySource('orders', items.slice(0, 3000), { batchSize: 100, endless: true });
    totalsPipeline(env, source);
    const job = env.start();
    while ((job.snapshot().sinks.sink ?? 0) < 3000) await new Promise((r) => setTimeout(r, 10));
    job.stop();
    const result = await job.done;
    expect(result.checkpoints!.count).toBe(1); // only the final one
    expect(await tableMap(env, 'totals')).toEqual(linearTotals(items.slice(0, 3000)));

    const next = new StreamEnvironment({ workers: 2, appId: 'stop', stateDir: dir });
    const rest = new ArraySource('orders', items, { batchSize: 1000 });
    totalsPipeline(next, rest);
    await next.execute();
    expect(rest.seeks).toEqual([3000]);
    expect(await tableMap(next, 'totals')).toEqual(linearTotals(items));
  }, 90_000);
});
