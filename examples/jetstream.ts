/**
 * Two processes share one durable JetStream consumer: the orders in stream ORDERS are split
 * between them, each maps its share and publishes a receipt to RECEIPTS (with the order's id as
 * Nats-Msg-Id, so a redelivered order is not stored twice). A remote service (exposed by this
 * process, called by the workers' operators through ctx.services) prices each order.
 *
 *   npx tsx examples/jetstream.ts            # starts its own nats-server (Debian: apt-get install nats-server)
 *   NATS_URL=nats://127.0.0.1:4222 npx tsx examples/jetstream.ts   # or uses yours (needs -js)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { fromJetStream, toJetStream } from '../src/connectors/index.js';
import { ServiceManager } from '../src/service/index.js';
import { StreamEnvironment } from '../src/stream/index.js';
import { NatsServer } from '../test/helpers/nats-server.js';

interface Order {
  id: number;
  user: string;
  items: number;
}

const ORDERS = Number(process.env.ORDERS ?? 20_000);

if (process.argv[2] === 'worker') await worker(process.argv[3]!, process.argv[4]!);
else await main();

/** One of the two processes: ORDERS → price (remote service) → RECEIPTS, until SIGTERM. */
async function worker(servers: string, name: string): Promise<void> {
  const env = new StreamEnvironment({ workers: 1 });
  env.services.registerRemote('pricing', { servers, timeoutMs: 2000 });
  const orders = fromJetStream<Order>({ servers, stream: 'ORDERS', durable: 'receipts', decode: 'json' });
  env
    .from(orders)
    .map((o: Order, ctx) => ({ id: o.id, user: o.user, total: ctx.services.pricing!.price!(o.items) as number }))
    .to(toJetStream<{ id: number }>({ servers, subject: `receipts.${name}`, msgId: (r) => String(r.id), encode: 'json' }));
  process.on('SIGTERM', () => orders.stop());
  await env.execute();
  await env.close();
}

async function main(): Promise<void> {
  const server = process.env.NATS_URL ? undefined : await NatsServer.start();
  const servers = process.env.NATS_URL ?? server!.url;
  const nc = await connect({ servers });
  const jsm = await jetstreamManager(nc);
  for (const name of ['ORDERS', 'RECEIPTS']) await jsm.streams.delete(name).catch(() => undefined);
  await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'] });
  await jsm.streams.add({ name: 'RECEIPTS', subjects: ['receipts.>'] });

  // The pricing service, callable from any process on this NATS.
  const services = new ServiceManager();
  services.registerService('pricing', { price: (items: number) => Math.round(items * 4.99 * 100) / 100 }, { expose: { servers } });
  await services.start();

  const js = jetstream(nc);
  for (let i = 0; i < ORDERS; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, ORDERS - i) }, (_, k) => js.publish('orders.new', JSON.stringify({ id: i + k, user: `u${(i + k) % 97}`, items: 1 + ((i + k) % 5) }))),
    );
  }
  console.log(`published ${ORDERS} orders to ${servers}`);

  const started = Date.now();
  const children = ['a', 'b'].map((name) => spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'worker', servers, name], { stdio: 'inherit' }));
  let receipts = 0;
  while (receipts < ORDERS) {
    await new Promise((r) => setTimeout(r, 200));
    receipts = (await jsm.streams.info('RECEIPTS')).state.messages;
  }
  const split = (await jsm.streams.info('RECEIPTS', { subjects_filter: '>' })).state.subjects ?? {};
  console.log(`${receipts} receipts in ${Date.now() - started} ms; process a made ${split['receipts.a'] ?? 0}, process b ${split['receipts.b'] ?? 0}`);
  const first = await jsm.streams.getMessage('RECEIPTS', { seq: 1 });
  console.log('first receipt:', first?.json());

  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
  await services.stop();
  await nc.close();
  await server?.dispose();
}
