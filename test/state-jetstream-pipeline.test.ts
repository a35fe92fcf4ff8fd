// Tables of a running pipeline checkpointed into JetStream (jetStreamStateStore), recovered by
// another process that knows only the servers; and a JetStream source whose acks go at
// checkpoints, SIGKILLed half-way: the totals come out exact.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { jetStreamStateStore } from '../src/connectors/index.js';
import { StatePartition, TableDeclaration, storedDeclarations } from '../src/state/index.js';
import { StreamEnvironment } from '../src/stream/index.js';
import { orders, type Order } from './fixtures/state-jetstream-job.js';
import { NATS_MISSING, NatsServer, natsServerAvailable } from './helpers/nats-server.js';
import { ArraySource } from './helpers/state-connectors.js';

const available = natsServerAvailable();
/**
 * Messages of the kill tests: 20 k in `npm test`; issue 12's full size is 200 k
 * (`RINGFLOW_JETSTREAM_MESSAGES=200000 npx vitest run <this file>`), waits scaled to match.
 */
const MESSAGES = Number(process.env.RINGFLOW_JETSTREAM_MESSAGES ?? 20_000);
const SCALE = Math.max(1, MESSAGES / 20_000);
if (!available) console.warn(NATS_MISSING);

const JOB = fileURLToPath(new URL('./fixtures/state-jetstream-job.ts', import.meta.url));
const run = promisify(execFile);

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

function linearTotals(items: readonly Order[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const o of items) totals[o.user] = (totals[o.user] ?? 0) + o.amount;
  return totals;
}

const sorted = (totals: Record<string, number>) => Object.fromEntries(Object.entries(totals).sort(([a], [b]) => (a < b ? -1 : 1)));

/** Thrown by a check that knows waiting longer cannot help. */
class GiveUp extends Error {}

/** Polls `check` (a GiveUp fails at once; any other rejection, e.g. a lookup, counts as not yet). */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, describe?: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let done = false;
    try {
      done = await check();
    } catch (error) {
      if (error instanceof GiveUp) throw error;
    }
    if (done) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${describe ? `: ${await describe().catch((e: Error) => e.message)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The committed totals in a bucket, read back as a recovering job would (one partition). */
async function committedTotals(bucket: string): Promise<Record<string, number>> {
  const declarations = [new TableDeclaration<number>('totals', { default: () => 0 })];
  const store = jetStreamStateStore({ servers: server.url, bucket });
  try {
    const opened = await store.open({ appId: 'shop', maxParallelism: 128, tables: storedDeclarations(declarations) });
    const p = new StatePartition({ declarations, index: 0, parallelism: 1 });
    await p.restore(store, opened.checkpoint!);
    return Object.fromEntries(p.plain<number>('totals').entries());
  } finally {
    await store.close();
  }
}

function spawnJob(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', JOB, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe.skipIf(!available)('tables in JetStream through a pipeline (real nats-server on 127.0.0.1)', () => {
  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });

  it('a job cancelled after checkpoints is resumed by a new environment in another process (servers URL only): totals exact', async () => {
    const items = orders(6000);
    const first = new StreamEnvironment({ workers: 2, appId: 'shop', stateStore: jetStreamStateStore({ servers: server.url, bucket: 'pipe' }), checkpointIntervalMs: 50 });
    first.table<number>('totals', { default: () => 0 });
    first
      .from(new ArraySource('orders', items, { batchSize: 25, delayMs: 6 }))
      .keyBy((o: Order) => o.user)
      .map((o: Order, ctx) => {
        const t = ctx.table<number>('totals');
        t.set(o.user, (t.get(o.user) as number) + o.amount);
        return o.seq;
      })
      .sink(() => {});
    const job = first.start();
    // Cancelled mid-way: after 3 checkpoints, or after 1 once half the orders are out (a loaded box
    // commits slowly, and a job whose every order was committed has nothing left to resume).
    const midway = () => {
      const s = job.snapshot();
      const count = s.checkpoints?.count ?? 0;
      return count >= 3 || (count >= 1 && (s.sources.orders ?? 0) >= items.length / 2);
    };
    while (!midway()) await new Promise((r) => setTimeout(r, 10));
    job.cancel('simulated crash');
    await expect(job.done).rejects.toMatchObject({ code: 'ABORT_ERR' });
    await first.close();
    const partial = await committedTotals('pipe');
    const partialSum = Object.values(partial).reduce((a, b) => a + b, 0);
    expect(partialSum).toBeGreaterThan(0);
    expect(partialSum).toBeLessThan(Object.values(linearTotals(items)).reduce((a, b) => a + b, 0));

    await server.restart(); // nothing but the server's store carries the state over
    const { stdout } = await run(process.execPath, ['--import', 'tsx', JOB, 'array', server.url, 'pipe', String(items.length)], { timeout: 60_000 });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { seeks: number[]; totals: Record<string, number> };
    expect(result.seeks[0]).toBeGreaterThan(0); // resumed after the committed position, not from the start
    expect(sorted(result.totals)).toEqual(sorted(linearTotals(items)));
    expect(sorted(await committedTotals('pipe'))).toEqual(sorted(linearTotals(items)));
  }, 120_000);

  it('a JetStream source with a table, acked at checkpoints: SIGKILL half-way, restart, and every total is exact (redeliveries not counted twice)', async () => {
    const n = MESSAGES;
    const items = orders(n);
    await jsm.streams.add({ name: 'ORD', subjects: ['ord.>'] });
    const js = jetstream(nc);
    for (let i = 0; i < n; i += 500) await Promise.all(items.slice(i, i + 500).map((o) => js.publish('ord.in', JSON.stringify(o))));
    const ackFloor = async () => (await jsm.consumers.info('ORD', 'totals')).ack_floor.stream_seq;
    const consumerState = async () =>
      JSON.stringify((({ delivered, ack_floor, num_ack_pending, num_pending, num_redelivered }) => ({ delivered, ack_floor, num_ack_pending, num_pending, num_redelivered }))(await jsm.consumers.info('ORD', 'totals')));

    const first = spawnJob(['stream', server.url, 'ordstate', 'ORD', 'totals']);
    try {
      // Acks come only with commits: an ack floor past a third means checkpoints covered that much.
      // A job that died, or a floor that stalls, says so (this wait once timed out in CI, unexplained).
      await until('a third acked', async () => {
        if (first.child.exitCode !== null) throw new GiveUp(`the first job exited with ${first.child.exitCode} before a third was acked:\n${first.output()}`);
        return (await ackFloor()) >= n / 3;
      }, 60_000 * SCALE, consumerState);
      first.child.kill('SIGKILL');
      await first.exited;
    } finally {
      if (first.child.exitCode === null) first.child.kill('SIGKILL');
    }
    const floorAtKill = await ackFloor();
    expect(floorAtKill).toBeLessThan(n);

    const second = spawnJob(['stream', server.url, 'ordstate', 'ORD', 'totals']);
    try {
      // What the first held unacked comes back after its ack wait, to the restarted job.
      // As above: a job that died says so at once, and a stalled floor says where it stalled.
      await until('every message acked', async () => {
        if (second.child.exitCode !== null) throw new GiveUp(`the restarted job exited with ${second.child.exitCode} before every message was acked:\n${second.output()}`);
        const info = await jsm.consumers.info('ORD', 'totals');
        return info.ack_floor.stream_seq === n && info.num_ack_pending === 0 && info.num_pending === 0;
      }, 90_000 * SCALE, async () => `${await consumerState()}\nthe restarted job's output so far:\n${second.output().slice(-4000)}`);
      second.child.kill('SIGTERM'); // a final checkpoint, then it prints its tables
      expect(await second.exited).toBe(0);
    } finally {
      if (second.child.exitCode === null) second.child.kill('SIGKILL');
    }
    const result = JSON.parse(second.output().trim().split('\n').pop()!) as { totals: Record<string, number> };
    const sum = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0);
    console.log(`killed at ack floor ${floorAtKill}; totals ${sum(result.totals)}, expected ${sum(linearTotals(items))}; ${second.output().split('\n').filter((l) => l.startsWith('checkpoint')).length} checkpoint lines; counts ${JSON.stringify((result as { counts?: unknown }).counts)}; redelivered ${(await jsm.consumers.info('ORD', 'totals')).num_redelivered}`);
    expect(sorted(result.totals)).toEqual(sorted(linearTotals(items)));
    expect(sorted(await committedTotals('ordstate'))).toEqual(sorted(linearTotals(items)));
  }, 180_000 * SCALE);
});
