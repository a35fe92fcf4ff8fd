import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { JetStreamStateStore, NatsConnectionError, STATE_HEADERS, StateCommitConflictError, jetStreamStateStore } from '../src/connectors/index.js';
import { InvalidArgumentError } from '../src/errors.js';
import { StateCorruptionError, StatePartition } from '../src/state/index.js';
import { NATS_MISSING, NatsServer, natsServerAvailable } from './helpers/nats-server.js';
import { Stage, appSpec, applyStep, declarations, dump } from './helpers/state.js';
import { stateStoreContract, type StoreLocation } from './helpers/state-contract.js';

const available = natsServerAvailable();
if (!available) console.warn(NATS_MISSING);

const RECOVER = fileURLToPath(new URL('./fixtures/state-jetstream-recover.ts', import.meta.url));
const run = promisify(execFile);

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let buckets = 0;

async function reconnected(): Promise<void> {
  // The test's own connection comes back after a server restart; wait for it before asking.
  for (let i = 0; i < 100; i++) {
    try {
      await jsm.streams.names().next();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A fresh bucket on the test's server; `restart` makes `between()` restart the server. */
function bucketLocation(restart: boolean): StoreLocation {
  const bucket = `b${++buckets}`;
  const stream = `RINGFLOW_STATE_${bucket}`;
  return {
    store: (appId, options = {}) => jetStreamStateStore({ servers: server.url, bucket, appId, ...options }),
    storeOfAnotherApp: async (appId) => jetStreamStateStore({ servers: server.url, bucket, appId }),
    async segmentCheckpoints() {
      await reconnected();
      const info = await jsm.streams.info(stream, { subjects_filter: '>' });
      return Object.keys(info.state.subjects ?? {})
        .filter((s) => s.includes('.seg.'))
        .map((s) => Number(/-(\d{10})-[a-z0-9]{10}$/.exec(s)![1]));
    },
    async between() {
      if (!restart) return;
      await server.restart();
      await reconnected();
    },
    async remove() {
      await reconnected();
      await jsm.streams.delete(stream).catch(() => undefined);
    },
  };
}

describe.skipIf(!available)('JetStreamStateStore (real nats-server on 127.0.0.1)', () => {
  beforeAll(async () => {
    server = await NatsServer.start();
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });

  // The same cases as the file store's, the nats-server restarted between writing and reading.
  stateStoreContract({ name: 'JetStreamStateStore', location: async () => bucketLocation(true) });

  it('a process on "another box", knowing only the servers, recovers the tables at another parallelism', async () => {
    const at = bucketLocation(false);
    const store = at.store('shop');
    await store.open(appSpec('shop', declarations()));
    const stage = new Stage(store, declarations(), 2);
    for (let id = 1; id <= 4; id++) {
      applyStep(stage, id);
      await stage.checkpoint(id, { orders: { seq: id * 10 } });
    }
    const expected = dump(stage.partitions);
    await store.close();
    await server.restart();
    const bucket = (store as JetStreamStateStore).bucket;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', RECOVER, server.url, bucket, '3'], { timeout: 30_000 });
    const recovered = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(recovered.checkpoint).toBe(4);
    expect(recovered.sources).toEqual({ orders: { seq: 40 } });
    expect(recovered.warnings).toEqual([]);
    expect(recovered.state).toEqual(JSON.parse(JSON.stringify(expected)));
    await reconnected();
    await at.remove();
  }, 60_000);

  it('chunks partitions past the server max_payload (a value of 2.5 MiB, many small ones), and restores them exactly', async () => {
    const at = bucketLocation(false);
    const store = at.store('shop');
    await store.open(appSpec('shop', declarations()));
    const stage = new Stage(store, declarations(), 1);
    const p = stage.partitions[0]!;
    const big = 'x'.repeat(2.5 * 1024 * 1024);
    p.plain('profiles').set('big', { n: 1, tags: [big] });
    for (let i = 0; i < 20_000; i++) p.plain('totals').set(`k${i}`, i * 1.5);
    const committed = await stage.checkpoint(1);
    expect(committed.partitions[0]!.length).toBeGreaterThan(2.5 * 1024 * 1024);
    const subjects = (await jsm.streams.info(`RINGFLOW_STATE_${(store as JetStreamStateStore).bucket}`, { subjects_filter: '>' })).state.subjects!;
    const segment = Object.entries(subjects).find(([s]) => s.includes('.seg.'))!;
    expect(segment[1]).toBeGreaterThanOrEqual(3); // > 2.5 MiB in messages of < 1 MiB
    await store.close();
    const again = at.store('shop');
    const opened = await again.open(appSpec('shop', declarations()));
    const q = new StatePartition({ declarations: declarations(), index: 0, parallelism: 1 });
    await q.restore(again, opened.checkpoint!);
    expect((q.plain('profiles').get('big') as { tags: string[] }).tags[0]).toBe(big);
    expect(q.plain('totals').size).toBe(20_000);
    expect(q.plain('totals').get('k19999')).toBe(19999 * 1.5);
    await again.close();
    await at.remove();
  }, 60_000);

  it('two processes cannot both commit: the one that opened last owns the state, the other gets ERR_STATE_COMMIT_CONFLICT', async () => {
    const at = bucketLocation(false);
    const first = at.store('shop');
    await first.open(appSpec('shop', declarations()));
    const a = new Stage(first, declarations(), 1);
    applyStep(a, 1);
    await a.checkpoint(1);
    // A second process opens the same state (say, a restarted job while the old one still runs).
    const second = at.store('shop');
    const opened = await second.open(appSpec('shop', declarations()));
    expect(opened.checkpoint!.id).toBe(1);
    const b = new Stage(second, declarations(), 1);
    await b.restore(opened.checkpoint!);
    applyStep(a, 2);
    const error = await a.checkpoint(2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateCommitConflictError);
    expect((error as StateCommitConflictError).code).toBe('ERR_STATE_COMMIT_CONFLICT');
    expect((error as Error).message).toMatch(/checkpoint 2 was not committed/);
    applyStep(b, 3);
    await b.checkpoint(2);
    const expected = dump(b.partitions);
    // The fenced-off process goes on writing; none of it is ever read.
    applyStep(a, 4);
    await a.write(3).catch(() => undefined);
    await first.close();
    await second.close();
    const third = at.store('shop');
    const recovered = await third.open(appSpec('shop', declarations()));
    expect(recovered.checkpoint!.id).toBe(2);
    expect(recovered.warnings.map((w) => w.code)).toEqual(['STATE_UNCOMMITTED_SEGMENT']); // the fenced writer's checkpoint-3 segment
    const c = new Stage(third, declarations(), 1);
    await c.restore(recovered.checkpoint!);
    expect(dump(c.partitions)).toEqual(expected);
    await third.close();
    await at.remove();
  }, 60_000);

  it('a write cut short is a torn tail; a missing message inside a committed extent is a StateCorruptionError at its offset', async () => {
    const at = bucketLocation(false);
    const store = at.store('shop', { batchEntries: 16 });
    await store.open(appSpec('shop', declarations()));
    const small = jetStreamStateStore({ servers: server.url, bucket: (store as JetStreamStateStore).bucket, chunkBytes: 2048, batchEntries: 16 });
    const stage = new Stage(small, declarations(), 1);
    applyStep(stage, 1);
    const extents = await stage.write(1);
    await store.commit({ id: 1, partitions: extents, sources: {} });
    await small.close();
    await store.close();
    const stream = `RINGFLOW_STATE_${(store as JetStreamStateStore).bucket}`;
    const subject = `$RFSTATE.${(store as JetStreamStateStore).bucket}.seg.${extents[0]!.file}`;
    // Checkpoint 2's write got its first message out, then the process died: the tail is torn.
    const h = headers();
    h.set(STATE_HEADERS.offset, String(extents[0]!.length));
    h.set(STATE_HEADERS.checkpoint, '2');
    await jetstream(nc).publish(subject, new Uint8Array(2048).fill(7), { headers: h });
    const reopened = at.store('shop');
    const opened = await reopened.open(appSpec('shop', declarations()));
    expect(opened.warnings.map((w) => [w.code, w.offset])).toEqual([['STATE_TORN_TAIL', extents[0]!.length]]);
    const p = new StatePartition({ declarations: declarations(), index: 0, parallelism: 1 });
    await p.restore(reopened, opened.checkpoint!);
    // A message in the middle of the committed extent goes missing.
    const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: subject });
    const middle = await consumer.fetch({ max_messages: 3 });
    let victim: { seq: number; offset: number } | undefined;
    for await (const m of middle) victim = { seq: m.seq, offset: Number(m.headers!.get(STATE_HEADERS.offset)) };
    await jsm.streams.deleteMessage(stream, victim!.seq);
    const error = await new StatePartition({ declarations: declarations(), index: 0, parallelism: 1 }).restore(reopened, opened.checkpoint!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateCorruptionError);
    expect((error as StateCorruptionError).code).toBe('ERR_STATE_CORRUPT');
    expect((error as StateCorruptionError).offset).toBe(victim!.offset);
    expect((error as StateCorruptionError).file).toContain(subject);
    expect((error as Error).message).toMatch(/a message of the segment is missing/);
    // The whole segment gone: found at open.
    await jsm.streams.purge(stream, { filter: subject });
    const fourth = at.store('shop');
    const gone = await fourth.open(appSpec('shop', declarations())).catch((e: unknown) => e);
    await fourth.close();
    expect(gone).toBeInstanceOf(StateCorruptionError);
    expect((gone as Error).message).toMatch(/the segment the committed checkpoint names is missing/);
    await reopened.close();
    await at.remove();
  }, 60_000);

  it('bad input: a server that is down, unknown options, a bad bucket name, an appId other than the store’s', async () => {
    const down = jetStreamStateStore({ servers: 'nats://127.0.0.1:1', bucket: 'x', connectTimeoutMs: 600 });
    const failed = await down.open(appSpec('shop', declarations())).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(NatsConnectionError);
    expect((failed as NatsConnectionError).code).toBe('ERR_NATS_CONNECT');
    await down.close();
    expect(() => jetStreamStateStore({ servers: server.url, bucket: 'x', chunk: 5 } as never)).toThrow(/unknown option 'chunk' \(valid: servers, bucket, appId/);
    expect(() => jetStreamStateStore({ servers: server.url, bucket: 'a.b' })).toThrow(InvalidArgumentError);
    expect(() => jetStreamStateStore({ servers: server.url, bucket: 'x', chunkBytes: 0 })).toThrow(/chunkBytes must be a positive integer/);
    const other = jetStreamStateStore({ servers: server.url, bucket: 'x', appId: 'books' });
    await expect(other.open(appSpec('shop', declarations()))).rejects.toMatchObject({ code: 'ERR_STATE_APP_MISMATCH' });
    await other.close();
  });
});
