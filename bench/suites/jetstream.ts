/**
 * Suite — beyond one box, on a real nats-server this suite starts itself (loopback, temporary store).
 *
 * - Remote service round trip: `services.call('benchcalc', 'add', [i, 1])` on a service another
 *   process exposes (registerRemote → NATS request/reply with the services API), awaited one at a
 *   time, against a bare NATS request/reply to a plain responder in that same process (p50, µs).
 * - JetStream → map → JetStream: N messages waiting in a stream are consumed (durable pull
 *   consumer), mapped and published to another stream, each input acked once its output is
 *   acknowledged — by a ringflow job (fromJetStream → map on 2 workers → toJetStream) and by a
 *   plain single-thread nats.js loop doing the same (consume, JSON, work, publish with a window
 *   of in-flight acks, ack). Timed from start to the last output's ack, the job's start (worker
 *   threads, connections) included; with a trivial map (40 k messages) and with ~100 µs of CPU
 *   work per message: 24 k messages for the throughput goal (the loop takes ~4 s), and a short
 *   batch of 6 k (~1 s), where the job's start-up (~0.15–0.3 s on 2 busy cores: two worker
 *   threads booting while the source already takes messages) is a large share and shows in the ratio.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { ServiceManager } from '../../src/service/index.js';
import { StreamEnvironment } from '../../src/stream/index.js';
import { fromJetStream, toJetStream } from '../../src/connectors/index.js';
import { NATS_MISSING, NatsServer, natsServerAvailable } from '../../test/helpers/nats-server.js';
import { budget, latency } from '../lib/measure.js';
import { quotient, type Suite, type SuiteContext } from '../lib/suite.js';

const RESPONDER = new URL(`../workers/nats-responder${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
const WINDOW = 512;

interface Work {
  id: number;
  v: number;
}

/** The per-message work of both variants (self-contained: the job sends its source to the workers). */
const light = (r: Work) => ({ id: r.id, v: r.v * 2 });
const cpuBound = (r: Work) => {
  // ~100 µs of CPU per message.
  const end = performance.now() + 0.1;
  let x = r.v;
  while (performance.now() < end) x = (x * 1103515245 + 12345) % 2147483648;
  return { id: r.id, v: x };
};

async function startResponder(url: string): Promise<ChildProcess> {
  const path = fileURLToPath(RESPONDER);
  const args = path.endsWith('.ts') ? ['--import', 'tsx', path, url] : [path, url];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => void (out += c.toString()));
  const deadline = Date.now() + 30_000;
  while (!out.includes('ready')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the responder process did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

async function remoteLatency(ctx: SuiteContext, url: string): Promise<void> {
  const child = await startResponder(url);
  // noAsyncTraces, as ringflow's own connections (src/nats): no Error objects built per request.
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const services = new ServiceManager();
  services.registerRemote('benchcalc', { servers: url, timeoutMs: 5000 });
  await services.start();
  const b = budget(ctx.quick, { iterations: 3_000, time: 2000, warmupIterations: 500, warmupTime: 300 });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  try {
    let i = 0;
    ctx.report(
      await latency({
        id: 'jetstream.rtt.bare',
        label: 'bare NATS request/reply to another process (JSON [a, b] → a+b)',
        budget: b,
        fn: async () => {
          const n = ++i;
          const reply = await nc.request('bench.bare.add', encoder.encode(JSON.stringify([n, 1])), { timeout: 5000 });
          if (JSON.parse(decoder.decode(reply.data)) !== n + 1) throw new Error('wrong answer');
        },
      }),
    );
    ctx.report(
      await latency({
        id: 'jetstream.rtt.remoteService',
        label: "services.call on a service another process exposes over NATS (registerRemote)",
        budget: b,
        fn: async () => {
          const n = ++i;
          if ((await services.call('benchcalc', 'add', [n, 1])) !== n + 1) throw new Error('wrong answer');
        },
      }),
    );
  } finally {
    await services.stop();
    await nc.close();
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

/** Fresh IN/OUT streams holding `n` input messages, and the durable that will read them. */
async function prepare(jsm: JetStreamManager, nc: NatsConnection, tag: string, n: number): Promise<{ stream: string; durable: string; out: string }> {
  const stream = `IN_${tag}`;
  const outStream = `OUT_${tag}`;
  for (const name of [stream, outStream]) await jsm.streams.delete(name).catch(() => undefined);
  await jsm.streams.add({ name: stream, subjects: [`in.${tag}`] });
  await jsm.streams.add({ name: outStream, subjects: [`out.${tag}`] });
  const js = jetstream(nc);
  for (let i = 0; i < n; i += WINDOW) {
    await Promise.all(Array.from({ length: Math.min(WINDOW, n - i) }, (_, k) => js.publish(`in.${tag}`, JSON.stringify({ id: i + k, v: i + k }))));
  }
  await jsm.consumers.add(stream, { durable_name: 'bench', ack_policy: AckPolicy.Explicit, max_ack_pending: 4096 });
  return { stream, durable: 'bench', out: `out.${tag}` };
}

async function plainLoop(url: string, stream: string, durable: string, out: string, n: number, work: (r: Work) => Work): Promise<number> {
  const started = performance.now();
  // noAsyncTraces, as ringflow's own connections (src/nats): without it nats.js builds two Error
  // objects per publish (a request), most of a publish's cost.
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, durable);
  const messages = await consumer.consume({ max_messages: WINDOW });
  const inFlight = new Set<Promise<void>>();
  let seen = 0;
  for await (const m of messages) {
    const r = work(m.json<Work>());
    const p: Promise<void> = js.publish(out, JSON.stringify(r), { msgID: String(r.id) }).then(() => m.ack());
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    if (++seen === n) break;
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  await messages.close();
  await nc.drain();
  return seconds;
}

async function ringflowJob(url: string, stream: string, durable: string, out: string, n: number, work: (r: Work) => Work): Promise<{ seconds: number; firstMs: number }> {
  const started = performance.now();
  const env = new StreamEnvironment({ workers: 2 });
  const source = fromJetStream<Work>({ servers: url, stream, durable, decode: 'json', batchSize: 256 });
  const sink = toJetStream<Work>({ servers: url, subject: out, msgId: (r) => String(r.id), encode: 'json', maxInFlight: WINDOW });
  env.from(source).map(work, { parallelism: 2 }).to(sink);
  const job = env.start();
  let firstMs = 0;
  while (sink.published < n) {
    if (firstMs === 0 && sink.published > 0) firstMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 2));
  }
  const seconds = (performance.now() - started) / 1000;
  job.stop();
  await job.done;
  return { seconds, firstMs };
}

async function pipelines(ctx: SuiteContext, url: string): Promise<void> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  try {
    for (const [kind, work, n] of [
      ['map', light, ctx.quick ? 5_000 : 40_000],
      ['cpu', cpuBound, ctx.quick ? 2_000 : 24_000],
      ['cpuShort', cpuBound, ctx.quick ? 1_000 : 6_000],
    ] as const) {
      const what = kind === 'map' ? 'trivial map' : '~100 µs CPU';
      const plain = await prepare(jsm, nc, `plain_${kind}`, n);
      const plainSeconds = await plainLoop(url, plain.stream, plain.durable, plain.out, n, work);
      ctx.report({
        id: `jetstream.flow.${kind}.loop`,
        label: `plain nats.js consume/ack/publish loop, ${what} per message (${n / 1000} k)`,
        kind: 'throughput',
        unit: 'msg/s',
        value: n / plainSeconds,
        detail: { messages: n, seconds: plainSeconds },
      });
      const ours = await prepare(jsm, nc, `job_${kind}`, n);
      const job = await ringflowJob(url, ours.stream, ours.durable, ours.out, n, work);
      ctx.report({
        id: `jetstream.flow.${kind}.job`,
        label: `fromJetStream → map (2 workers) → toJetStream, ${what} per message (${n / 1000} k)`,
        kind: 'throughput',
        unit: 'msg/s',
        value: n / job.seconds,
        detail: { messages: n, seconds: job.seconds, firstOutputMs: job.firstMs },
      });
      ctx.log(`jetstream ${kind}: loop ${(n / plainSeconds).toFixed(0)} msg/s, job ${(n / job.seconds).toFixed(0)} msg/s (first output after ${job.firstMs.toFixed(0)} ms)`);
    }
  } finally {
    await nc.close();
  }
}

export const jetstreamSuite: Suite = {
  name: 'jetstream',
  title: 'NATS JetStream: remote service call vs bare request/reply; JetStream → map → JetStream vs a plain nats.js loop',
  async run(ctx) {
    if (!natsServerAvailable()) {
      ctx.log(NATS_MISSING);
      return;
    }
    const server = await NatsServer.start();
    try {
      await remoteLatency(ctx, server.url);
      await pipelines(ctx, server.url);
    } finally {
      await server.dispose();
    }
  },
  ratios: [
    {
      id: 'jetstream.flow.cpuShort.vsLoop',
      label: 'JetStream, ~100 µs CPU per message, a short batch (6 k): job / plain loop',
      compute: (f) => quotient(f.get('jetstream.flow.cpuShort.job')?.value, f.get('jetstream.flow.cpuShort.loop')?.value),
    },
  ],
  goals: [
    {
      id: 'jetstream.rtt.vsBare',
      label: 'remote service call p50 / bare NATS request/reply p50',
      value: (f) => quotient(f.get('jetstream.rtt.remoteService')?.value, f.get('jetstream.rtt.bare')?.value),
      op: '<=',
      target: 2,
      unit: 'ratio',
    },
    {
      id: 'jetstream.flow.map.vsLoop',
      label: 'JetStream → map → JetStream msg/s / plain nats.js loop msg/s',
      value: (f) => quotient(f.get('jetstream.flow.map.job')?.value, f.get('jetstream.flow.map.loop')?.value),
      op: '>=',
      target: 0.9,
      unit: 'ratio',
    },
    {
      id: 'jetstream.flow.cpu.vsLoop',
      label: 'the same with ~100 µs CPU per message (24 k) / the plain loop',
      value: (f) => quotient(f.get('jetstream.flow.cpu.job')?.value, f.get('jetstream.flow.cpu.loop')?.value),
      op: '>=',
      target: 1.6,
      unit: 'ratio',
    },
  ],
};
